import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { childPids } from "../src/supervisor/procfs.js";
import { isAlive } from "../src/supervisor/identity.js";
import { CORRAL_BIN } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";

/**
 * A foreground corral command that a signal ends exits as a shell reports it: 128 + the
 * signal's number, 143 for SIGTERM and 130 for SIGINT, after finishing what it must.
 */
const opened: Corral[] = [];
afterEach(async () => {
  for (const corral of opened.splice(0)) await corral.shutdown("test over");
});

const exec = promisify(execFile);
const home = (): string => mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "signals-"));

interface Running {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

function start(args: readonly string[], env: NodeJS.ProcessEnv, stdin: "ignore" | "pipe" = "ignore"): Running {
  const child = spawn(process.execPath, [CORRAL_BIN, ...args], { env: { ...process.env, ...env }, stdio: [stdin, "pipe", "inherit"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function sleeperCorral(): { corral: Corral; home: string } {
  const corral = openCorral();
  opened.push(corral);
  return { corral, home: corral.config.home };
}

describe("a signal ends a foreground command with 128 + its number", () => {
  it("corral run on SIGTERM stops every agent, verified, and exits 143", async () => {
    const dir = home();
    const run = start(["run", "wait", "-n", "2", "--", "sleep", "300"], { CORRAL_HOME: dir });
    await waitFor(() => (run.output().match(/ running$/gm) ?? []).length === 2, "two running agents");
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(143);
    const corral = openCorral({ home: dir });
    opened.push(corral);
    const agents = corral.agents(true);
    expect(agents.map((a) => [a.status, a.cleanup, a.reason])).toEqual([
      ["killed", "done", "stopped by SIGTERM"],
      ["killed", "done", "stopped by SIGTERM"],
    ]);
  });

  it("corral logs -f exits 143 on SIGTERM and 130 on SIGINT, the agent left running", async () => {
    const { corral, home: dir } = sleeperCorral();
    const task = unwrap(corral.createTask({ description: "follow" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p", command: ["bash", "-c", "echo one; exec sleep 300"] }));
    for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
      const logs = start(["logs", "-f", agent.id], { CORRAL_HOME: dir });
      await waitFor(() => logs.output() === "one\n", "the agent's first line");
      logs.child.kill(signal);
      expect(await logs.exited).toBe(code);
    }
    expect(isAlive({ pid: agent.process!.pid, startTime: agent.process!.startTime })).toBe(true);
  });

  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("corral serve shuts down on %s and exits %i; when its client closes stdin, 0", async (signal, code) => {
    for (const stop of [signal, "stdin"] as const) {
      const serve = start(["serve"], { CORRAL_HOME: home() }, "pipe");
      const lines = createInterface({ input: serve.child.stdout! })[Symbol.asyncIterator]();
      serve.child.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } })}\n`);
      expect(JSON.parse((await lines.next()).value as string)).toMatchObject({ id: 1 });
      if (stop === "stdin") serve.child.stdin!.end();
      else serve.child.kill(stop);
      expect(await serve.exited).toBe(stop === "stdin" ? 0 : code);
      serve.child.stdin!.destroy();
    }
  });

  it("corral attach on SIGTERM detaches its tmux client and exits 143", async () => {
    const corral = openCorral({ runner: "tmux" });
    opened.push(corral);
    const task = unwrap(corral.createTask({ description: "attach" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p", command: ["bash", "-c", "echo watched; exec sleep 300"] }));
    // script gives corral attach a terminal, which stays open after corral exits: a tmux client
    // corral left behind would still be attached to it.
    const line = `${[process.execPath, CORRAL_BIN, "attach", agent.id].map((a) => `'${a}'`).join(" ")}; echo "corral exited $?"; sleep 30`;
    const script = spawn("script", ["-qfc", line, "/dev/null"], { env: { ...process.env, CORRAL_HOME: corral.config.home, TERM: "xterm" }, stdio: ["pipe", "pipe", "pipe"], detached: true });
    let output = "";
    script.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => script.once("close", () => resolve()));
    try {
      await waitFor(() => output.includes("watched"), "the attached pane");
      const attach = descendants(script.pid!).find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`attach\0${agent.id}`));
      process.kill(attach!, "SIGTERM");
      await waitFor(() => output.includes("corral exited"), "corral attach to exit");
      expect(output).toContain("corral exited 143");
      const socket = join(corral.config.home, "tmux", `${agent.id}.sock`);
      expect((await exec("tmux", ["-S", socket, "list-clients"])).stdout).toBe("");
    } finally {
      process.kill(-script.pid!, "SIGTERM");
      await exited;
    }
    expect(corral.agent(agent.id)?.status).toBe("running");
  });

  it("corral demo on SIGTERM stops its agents, removes its dir and exits 143", async () => {
    // A temp dir of its own for the demo's dir: other files run demos in the shared one.
    const temp = home();
    const demo = start(["demo"], { CORRAL_HOME: home(), TMPDIR: temp });
    await waitFor(() => / running$/m.test(demo.output()), "a running agent", 60_000);
    expect(readdirSync(temp).filter((name) => name.startsWith("corral-demo-"))).toHaveLength(1);
    demo.child.kill("SIGTERM");
    expect(await demo.exited).toBe(143);
    expect(demo.output()).toContain("stopping every agent…");
    expect(readdirSync(temp)).toEqual([]);
  });
});

function descendants(pid: number): number[] {
  const children = childPids(pid);
  return [...children, ...children.flatMap(descendants)];
}
