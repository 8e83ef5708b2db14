import type { CleanupStep } from "./cleanup.js";

/**
 * Points where a test makes corral die for real, as `kill -9` would, by naming them in
 * CORRAL_FAILPOINTS (comma-separated). Read once at start; when none is named, each point
 * costs one size check of an empty set.
 */
export type Failpoint = "deploy:after-insert" | "deploy:after-spawn" | `cleanup:after-${CleanupStep}`;

const active = new Set(
  (process.env.CORRAL_FAILPOINTS ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== ""),
);

export function failpoint(name: Failpoint): void {
  if (active.size === 0 || !active.has(name)) return;
  process.kill(process.pid, "SIGKILL");
}
