import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cliMessage, wordsBeforeSeparator } from "../src/cli/words.js";
import { sentence } from "../src/lifecycle/logger.js";

const run = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "dist", "src", "cli", "main.js");
const version = (JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string }).version;
const home = (): string => mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "cli-"));
/** The environment of a user who asked for no logs (the leak guard silences them for tests). */
const { CORRAL_LOG_LEVEL: _silenced, ...unasked } = process.env;

/** Runs the built corral; never throws. */
async function corral(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { env: { ...process.env, CORRAL_HOME: home(), ...env } }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

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

describe("errors speak the command line's words", () => {
  it("a refused value is named by the flag or argument the user typed", async () => {
    const cases: [string[], string][] = [
      [["run", "p", "-t", "Bad Type", "--", "true"], "corral: INVALID_AGENT_TYPE: --type: "],
      [["run", "p", "-b", "claude", "--", "true"], "corral: INVALID_INPUT: -- ARGV: the claude backend"],
      [["run", "p", "-b", "command"], "corral: INVALID_INPUT: -- ARGV: the command backend needs an argv to run"],
      [["run", "p", "-m", "", "--", "true"], "corral: INVALID_INPUT: --model: "],
      [["kill", "TASK-1"], "corral: INVALID_ID: AGENT: "],
      [["logs", "worker-000000-000000"], "corral: UNKNOWN_AGENT: AGENT: no agent worker-000000-000000"],
    ];
    for (const [args, expected] of cases) {
      const refused = await corral(args);
      expect([refused.code, refused.stderr.split("\n")[0]?.slice(0, expected.length)]).toEqual([1, expected]);
      expect(refused.stderr).not.toMatch(/agentType|taskId|agentId|maxRuntimeMs|`command`/);
    }
  });

  it("an error's field, in the service's words, becomes the command line's", () => {
    expect(cliMessage({ code: "INVALID_AGENT_TYPE", message: "agentType: 1 to 40 characters", field: "agent_type" })).toBe("--type: 1 to 40 characters");
    expect(cliMessage({ code: "INVALID_INPUT", message: "maxRuntimeMs: at most a week", field: "max_runtime_s" })).toBe("max_runtime_s: at most a week");
    expect(cliMessage({ code: "INVALID_ID", message: "task_id: not a task id" })).toBe("TASK: not a task id");
    expect(cliMessage({ code: "INVALID_INPUT", message: "no backend x", field: "backend" })).toBe("--backend: no backend x");
    expect(cliMessage({ code: "UNKNOWN_AGENT", message: "no agent w-1", field: "agent_id" })).toBe("AGENT: no agent w-1");
    expect(cliMessage({ code: "INVALID_INPUT", message: "the command backend needs `command`", field: "command" })).toBe("-- ARGV: the command backend needs -- ARGV");
  });
});

describe("corral run PROMPT -- ARGV", () => {
  it("refuses words after the prompt that are not after --, and says both ways to write them, creating nothing", async () => {
    const dir = home();
    const refused = await corral(["run", "x", "echo", "hi"], { CORRAL_HOME: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^corral: INVALID_INPUT: PROMPT: .*echo hi came after the prompt without it/);
    expect(refused.stderr).toContain("(corral run 'x echo hi')");
    expect(refused.stderr).toContain("(corral run x -- echo hi)");
    expect(existsSync(join(dir, "corral.db"))).toBe(false);
  });

  it("takes as the argv exactly the words after --", () => {
    expect(wordsBeforeSeparator(["echo", "hi"], ["run", "x", "--", "echo", "hi"])).toEqual([]);
    expect(wordsBeforeSeparator(["echo", "hi"], ["run", "x", "echo", "hi"])).toEqual(["echo", "hi"]);
    expect(wordsBeforeSeparator(["echo", "hi"], ["run", "x", "echo", "--", "hi"])).toEqual(["echo"]);
    expect(wordsBeforeSeparator([], ["run", "x"])).toEqual([]);
  });
});

describe("logs: none on a terminal unless asked for", () => {
  const ARGS = ["run", "quick", "--", "true"];
  const jsonLines = (text: string): string[] => text.split(/\r?\n/).filter((line) => line.startsWith("{"));

  it("a command on a terminal prints no JSON log line by default", async () => {
    // script gives corral a terminal for stdout and stderr alike.
    const line = [process.execPath, BIN, ...ARGS].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qfec", line, "/dev/null"], { env: { ...unasked, CORRAL_HOME: home() }, stdio: ["pipe", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).toBe(0);
    expect(output.replace(/\u001b\[\d+m/g, "")).toMatch(/^worker-\S+\s+completed\s.*clean\r?$/m);
    expect(jsonLines(output)).toEqual([]);
  });

  it("--log-level, CORRAL_LOG_LEVEL and CORRAL_LOG ask for JSON logs on stderr; stdout stays the command's", async () => {
    const asked = [
      [["--log-level", "info", ...ARGS], unasked],
      [ARGS, { ...unasked, CORRAL_LOG_LEVEL: "info" }],
      [ARGS, { ...unasked, CORRAL_LOG: "info" }],
    ] as const;
    for (const [args, env] of asked) {
      const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...env, CORRAL_HOME: home() } });
      expect(jsonLines(stderr).map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain("agent cleaned");
      expect(jsonLines(stdout)).toEqual([]);
    }
  });

  it("a warning a person must see is one plain sentence", () => {
    const line = JSON.stringify({ level: 40, time: 1, name: "corral", agent: "worker-1", step: "verify", msg: "cleanup step failed" });
    expect(sentence(line)).toBe("corral: warning: cleanup step failed (agent: worker-1, step: verify)\n");
  });

  it("corral serve keeps logging JSON to stderr, its stdout for MCP alone", async () => {
    const serve = spawn(process.execPath, [BIN, "serve"], { env: { ...unasked, CORRAL_HOME: home() }, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    let stdout = "";
    serve.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    serve.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => serve.once("close", resolve));
    while (!stderr.includes("serving MCP on stdio")) await new Promise((r) => setTimeout(r, 20));
    serve.stdin.end();
    expect(await exited).toBe(0);
    expect(jsonLines(stderr).map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain("serving MCP on stdio");
    expect(stdout).toBe("");
  });
});
