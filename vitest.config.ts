import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Each file in its own process: the leak guard counts that process's descriptors and children.
    pool: "forks",
    maxWorkers: 2,
    setupFiles: ["test/helpers/leak-guard.ts"],
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
