import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "dist", "src", "cli", "main.js");
const version = (JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string }).version;

describe("corral command line", () => {
  it("prints its version", async () => {
    const { stdout } = await run(process.execPath, [BIN, "--version"]);
    expect(stdout.trim()).toBe(version);
  });

  it("prints help that says what corral is", async () => {
    const { stdout } = await run(process.execPath, [BIN, "--help"]);
    expect(stdout).toContain("Usage: corral");
    expect(stdout).toContain("supervised background agents");
  });

  it("refuses an unknown command with exit code 1 and says so on stderr", async () => {
    const failure = await run(process.execPath, [BIN, "frobnicate"]).catch((e: { code: number; stderr: string }) => e);
    expect("code" in failure ? failure.code : 0).toBe(1);
    expect("stderr" in failure ? failure.stderr : "").toContain("frobnicate");
  });
});
