import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { TaskId } from "../src/domain/ids.js";
import { isAlive } from "../src/supervisor/identity.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { CORRAL_BIN } from "./helpers/mcp-client.js";
import { withStore } from "./helpers/store.js";

const exec = promisify(execFile);
const home = (): string => mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "run-"));

async function storeAt(dir: string) {
  return unwrap(Corral.open(unwrap(loadConfig({ ...process.env, CORRAL_HOME: dir })), createLogger("silent"), { watch: false }));
}

describe("corral run", () => {
  it("deploys the agents, shows their progress, waits, and prints a summary with the cleanup", async () => {
    const dir = home();
    const { stdout } = await exec(
      process.execPath,
      [CORRAL_BIN, "run", "count to three", "--agents", "2", "--backend", "command", "--", "bash", "-c", "echo working; sleep 0.3"],
      { env: { ...process.env, CORRAL_HOME: dir } },
    );
    expect(stdout).toMatch(/^task TASK-\d{8}-\d{6}-[0-9a-f]{8}\n/);
    expect(stdout.match(/^worker-\S+ completed$/gm)).toHaveLength(2);
    expect(stdout).toMatch(/^AGENT\s+STATUS\s+COST\s+TOKENS\s+CONFIDENCE\s+CLEANUP$/m);
    expect(stdout.match(/^worker-\S+\s+completed\s+-\s+-\s+\w+\s+clean$/gm)).toHaveLength(2);
    const corral = await storeAt(dir);
    expect(corral.agents(true).map((a) => [a.status, a.cleanup])).toEqual([
      ["completed", "done"],
      ["completed", "done"],
    ]);
    await corral.close();
  });

  it("stops every agent cleanly on Ctrl-C and exits 130", async () => {
    const dir = home();
    const child = spawn(process.execPath, [CORRAL_BIN, "run", "wait forever", "-n", "3", "-b", "command", "--", "sleep", "300"], {
      env: { ...process.env, CORRAL_HOME: dir },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    while ((out.match(/ running$/gm) ?? []).length < 3) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(out).toContain("stopping every agent…");
    const corral = await storeAt(dir);
    const agents = corral.agents(true);
    expect(agents).toHaveLength(3);
    expect(agents.every((a) => a.status === "killed" && a.cleanup === "done" && a.reason === "stopped with Ctrl-C")).toBe(true);
    await corral.close();
  });

  it("a run that fails after starting agents stops them, verified, and exits 1", async () => {
    const dir = home();
    const failure = await exec(process.execPath, [CORRAL_BIN, "run", "three at once", "-n", "3", "-b", "command", "--", "sleep", "300"], {
      env: { ...process.env, CORRAL_HOME: dir, CORRAL_MAX_CONCURRENT_AGENTS: "2" },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect("code" in failure ? failure.code : 0).toBe(1);
    expect(failure.stderr).toMatch(/^corral: LIMIT_GLOBAL_AGENTS: .*maxConcurrentAgents=2/m);
    expect(failure.stdout).toContain("stopped 2 agents already started");
    const corral = await storeAt(dir);
    const agents = withStore(corral.config.home, (store) => store.agents.forTask(corral.listTasks()[0]!.taskId as TaskId));
    expect(agents.map((a) => [a.status, a.cleanupStatus])).toEqual([
      ["killed", "done"],
      ["killed", "done"],
    ]);
    for (const agent of agents) {
      expect(agent.reason).toBe("the run failed: another agent could not start (LIMIT_GLOBAL_AGENTS)");
      expect(isAlive({ pid: agent.process!.pid, startTime: agent.process!.startTime })).toBe(false);
    }
    await corral.close();
  });

  it("refuses a bad agent count", async () => {
    const failure = await exec(process.execPath, [CORRAL_BIN, "run", "p", "-n", "zero"], { env: { ...process.env, CORRAL_HOME: home() } }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect("code" in failure ? failure.code : 0).toBe(1);
    expect("stderr" in failure ? failure.stderr : "").toContain("--agents takes a whole number from 1 to 100, not zero");
  });
});

describe("corral demo", () => {
  it("runs scripted claude agents against a local model server and leaves nothing behind, in the user's home either", async () => {
    const demos = () => readdirSync(tmpdir()).filter((name) => name.startsWith("corral-demo-"));
    const before = demos();
    // The user's own home, where claude would write ~/.claude.json, transcripts and MCP logs.
    const userHome = home();
    const { CLAUDE_CONFIG_DIR: _unset, ...env } = process.env;
    const { stdout } = await exec(process.execPath, [CORRAL_BIN, "demo"], { env: { ...env, HOME: userHome, CORRAL_HOME: home() } });
    expect(readdirSync(userHome)).toEqual([]);
    expect(stdout.match(/^(lead|researcher|tester|reviewer)-\S+\s+completed\s+\$\d+\.\d{4}\s+\d+ in, \d+ out\s+high\s+clean$/gm)).toHaveLength(4);
    expect(stdout).toContain("every agent reported, finished and was cleaned up; nothing is left running");
    expect(demos()).toEqual(before);
  });
});
