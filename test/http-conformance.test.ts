import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpCorral, type HttpCorral } from "./helpers/http-serve.js";
import { startTokenProxy, type TokenProxy } from "./helpers/token-proxy.js";

const run = promisify(execFile);

/** The suite's command line, pinned in devDependencies (0.1.13: the newest that runs on Node 20). */
const SUITE = join(import.meta.dirname, "..", "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
/** The scenarios that do not apply to corral, each with its reason. */
const BASELINE = join(import.meta.dirname, "conformance", "baseline.yaml");

let server: HttpCorral;
let proxy: TokenProxy;

beforeAll(async () => {
  if (!existsSync(SUITE)) throw new Error(`${SUITE} is missing: run npm ci (the conformance suite is a devDependency)`);
  server = await startHttpCorral();
  // The suite cannot send headers of its own: this hop adds the bearer token.
  proxy = await startTokenProxy(new URL(server.url), server.fileToken());
});

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

describe("corral serve --http against the MCP conformance suite", () => {
  it("passes every server scenario of the active suite that applies to it, as test/conformance/baseline.yaml lists them", async () => {
    const outcome = await run(process.execPath, [SUITE, "server", "--url", `${proxy.origin}/mcp`, "--expected-failures", BASELINE], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
      env: { ...process.env, NO_COLOR: "1" },
    }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: `${error.stdout ?? ""}${error.stderr ?? ""}` }),
    );
    // The summary names each scenario that failed unexpectedly, or passed though listed.
    expect(outcome.code, outcome.stdout.slice(outcome.stdout.indexOf("=== SUMMARY ==="))).toBe(0);
    expect(outcome.stdout).toMatch(/✓ tools-list: \d+ passed, 0 failed/);
    expect(outcome.stdout).toMatch(/✓ dns-rebinding-protection: \d+ passed, 0 failed/);
  });
});
