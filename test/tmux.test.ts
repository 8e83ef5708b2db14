import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { identify, isAlive, type ProcessIdentity } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { claudeLine, exited } from "./helpers/builders.js";
import { CORRAL_BIN, startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";

const exec = promisify(execFile);
const opened: (Corral | Coordinator)[] = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await ("shutdown" in thing ? thing.shutdown("test over") : thing.close());
});

function tmuxCorral(): Corral {
  const corral = openCorral({ runner: "tmux" });
  opened.push(corral);
  return corral;
}

const gatePath = (name: string): string => join(process.env.CORRAL_TEST_ROOT as string, `${name}-${process.pid}-${Date.now()}`);
/** Prints its prompt (read from stdin), waits for the gate, then exits with `code`. */
const gated = (gate: string, code = 0): string[] => [
  "bash",
  "-c",
  `echo "prompt: $(cat)"; while [ ! -e ${gate} ]; do sleep 0.02; done; echo bye; exit ${code}`,
];

async function tmux(socket: string, ...args: string[]): Promise<string> {
  return (await exec("tmux", ["-S", socket, ...args])).stdout;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function archived(corral: Corral, id: AgentId): string {
  const path = corral.agent(id)?.archivePath;
  if (path == null) throw new Error("no archive");
  return gunzipSync(readFileSync(path)).toString("utf8");
}

/** Runs the built CLI under `script`, which gives it a terminal, as a person's shell would. */
function inTerminal(home: string, ...args: string[]) {
  const line = [process.execPath, CORRAL_BIN, ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qfec", line, "/dev/null"], {
    env: { ...process.env, CORRAL_HOME: home, TERM: "xterm" },
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { output: () => output, stop: () => process.kill(-(child.pid as number), "SIGTERM"), exited };
}

describe("the tmux runner", () => {
  it("runs an agent in a session on a private server, its output in the pane and the log, and closes both", async () => {
    const corral = tmuxCorral();
    const task = unwrap(corral.createTask({ description: "tmux" }));
    const gate = gatePath("gate");
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "watch me", command: gated(gate) }));
    expect(agent.runner).toBe("tmux");
    // There from the deploy on, private, before the log pipe has written to it.
    expect(statSync(agent.logPath).mode & 0o777).toBe(0o600);

    const socket = join(corral.config.home, "tmux", `${agent.id}.sock`);
    expect((await tmux(socket, "list-sessions", "-F", "#{session_name}")).trim()).toBe(agent.id);
    // Typed by no one: the prompt reached the agent on stdin, and the pane shows what it printed.
    await waitFor(async () => (await tmux(socket, "capture-pane", "-p", "-t", agent.id)).includes("prompt: watch me"), "the pane");
    await waitFor(() => readFileSync(agent.logPath, "utf8").includes("prompt: watch me\r\n"), "the log");

    // The recorded root is the agent's own, in a session of its own, below the pane's keeper.
    const server = identify(Number(await tmux(socket, "display-message", "-p", "#{pid}"))) as ProcessIdentity;
    const root = readStat(agent.process!.pid)!;
    expect(root.session).toBe(agent.process!.pid);
    const keeper = readStat(root.ppid)!;
    expect(keeper.ppid).toBe(server.pid);
    expect(unwrap(corral.status(task.id)).agents[0]?.runner).toBe("tmux");
    // stats counts what tmux holds for the agent apart from the agent's own processes.
    const held = corral.stats().agents.find((a) => a.agentId === agent.id)?.runner;
    expect(held).toMatchObject({ kind: "tmux", processes: 3 });
    expect(held?.residentMb).toBeGreaterThan(0);

    const child = unwrap(await corral.deploy({ taskId: task.id, agentType: "helper", prompt: "p", command: ["true"], parentId: agent.id }));
    expect(child.runner).toBe("tmux");
    await corral.whenCleaned(child.id);

    writeFileSync(gate, "");
    const done = await corral.whenCleaned(agent.id);
    expect([done.status, done.exit, done.cleanupStatus]).toEqual(["completed", exited(0), "done"]);
    const close = corral.cleanupRecord(agent.id).steps.find((s) => s.step === "close_session");
    expect(close?.outcome).toBe("ok");
    expect(close?.detail).toMatchObject({ server: server.pid, drained: true, killSession: "ok", forced: false, survivors: [] });
    expect(isAlive(server)).toBe(false);
    expect(existsSync(socket)).toBe(false);
    expect(archived(corral, agent.id).replaceAll("\r\n", "\n")).toBe("prompt: watch me\nbye\n");
    // Read back as lines, the terminal's CR LF is a plain line end.
    expect(unwrap(await corral.output(task.id, agent.id, {})).text).toBe("prompt: watch me\nbye\n");
  });

  it("passes any argv through exactly, however long, and leaves no trace of how in the agent's environment", async () => {
    const corral = tmuxCorral();
    const task = unwrap(corral.createTask({ description: "argv" }));
    const args = ["", "two words", `quotes ' " and $HOME \\ \``, "line\nbreak", "-x", ";", "y".repeat(100_000)];
    const show = "console.log(JSON.stringify({ args: process.argv.slice(1), leaked: Object.keys(process.env).filter((k) => k.startsWith('CORRAL_PANE')) }))";
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p", command: [process.execPath, "-e", show, ...args] }));
    const done = await corral.whenCleaned(agent.id);
    expect([done.status, done.cleanupStatus]).toEqual(["completed", "done"]);
    expect(JSON.parse(archived(corral, agent.id))).toEqual({ args, leaked: [] });
  });

  it("ignores the user's tmux configuration", async () => {
    // A server that stays up without sessions, and panes that vanish with their process: a
    // private server that read this would neither exit nor keep a pane to drain.
    const home = process.env.HOME as string;
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, ".tmux.conf"), "set -g exit-empty off\nset -g remain-on-exit off\nset -g default-shell /bin/false\n");
    try {
      const corral = tmuxCorral();
      const task = unwrap(corral.createTask({ description: "config" }));
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p", command: ["bash", "-c", "echo configured"] }));
      const done = await corral.whenCleaned(agent.id);
      expect([done.status, done.cleanupStatus]).toEqual(["completed", "done"]);
      const close = corral.cleanupRecord(agent.id).steps.find((s) => s.step === "close_session");
      expect(close?.detail).toMatchObject({ drained: true, forced: false, survivors: [] });
      expect(archived(corral, agent.id)).toBe("configured\r\n");
    } finally {
      rmSync(join(home, ".tmux.conf"));
    }
  });

  it("records the exit status even when the corral that launched the agent died, and closes the session", async () => {
    const crashed = await startCoordinator();
    const { task_id } = await crashed.call<{ task_id: string }>("create_real_task", { description: "crash" });
    const gate = gatePath("adopt");
    const deployed: { agent_id: string; runner: string; watch: string }[] = [];
    for (const code of [7, 0]) {
      deployed.push(await crashed.call("deploy_headless_agent", { task_id, agent_type: "orphan", prompt: "p", command: gated(gate, code), runner: "tmux" }));
    }
    expect(deployed[0]).toMatchObject({ runner: "tmux", watch: `corral attach ${deployed[0]!.agent_id}` });
    process.kill(crashed.transport.pid!, "SIGKILL");
    while (readStat(crashed.transport.pid!) !== null) await sleep(10);
    await crashed.close();

    const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: crashed.home })), orphans: "adopt" as const };
    const recovering = unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
    opened.push(recovering);
    const report = await recovering.reconcile();
    expect([...report.adopted].sort()).toEqual(deployed.map((d) => d.agent_id).sort());
    const [failing, killed] = deployed.map((d) => d.agent_id as AgentId) as [AgentId, AgentId];
    unwrap(await recovering.kill(killed, "no longer needed"));
    writeFileSync(gate, "");
    const ended = await recovering.whenCleaned(failing, 10_000);
    // Not the new corral's child, yet the keeper in the pane kept its status.
    expect([ended.status, ended.exit, ended.reason]).toEqual(["failed", exited(7), null]);
    for (const id of [failing, killed]) {
      expect(recovering.agent(id)?.cleanupStatus).toBe("done");
      expect(recovering.cleanupRecord(id).steps.find((s) => s.step === "close_session")?.outcome).toBe("ok");
      expect(existsSync(join(crashed.home, "tmux", `${id}.sock`))).toBe(false);
    }
  });

  it("an orphan that exited before a corral found it is recorded with the exit code its keeper kept, not as killed", async () => {
    const crashed = await startCoordinator();
    const { task_id } = await crashed.call<{ task_id: string }>("create_real_task", { description: "ended orphan" });
    const gate = gatePath("ended");
    const deployed = await crashed.call<{ agent_id: string; pid: number }>("deploy_headless_agent", {
      task_id,
      agent_type: "orphan",
      prompt: "p",
      command: gated(gate, 7),
      runner: "tmux",
    });
    const root = identify(deployed.pid)!;
    process.kill(crashed.transport.pid!, "SIGKILL");
    while (readStat(crashed.transport.pid!) !== null) await sleep(10);
    await crashed.close();
    writeFileSync(gate, "");
    while (isAlive(root)) await sleep(10);

    // orphans=terminate would kill a live orphan; this one has nothing left to kill.
    const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: crashed.home })), orphans: "terminate" as const };
    const recovering = unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
    opened.push(recovering);
    const report = await recovering.reconcile();
    expect([report.foundEnded, report.terminated]).toEqual([[deployed.agent_id], []]);
    const ended = await recovering.whenCleaned(deployed.agent_id as AgentId, 10_000);
    expect([ended.status, ended.exit, ended.reason, ended.cleanupStatus]).toEqual(["failed", exited(7), null, "done"]);
  });

  it("the terminal's control sequences in a tmux agent's log are never evidence about the agent", async () => {
    // A claude-like CLI on a terminal: it sets up the screen, streams its JSON, and restores
    // the screen on exit with no newline after, as a real CLI does.
    const fake = join(process.env.CORRAL_TEST_ROOT as string, "claude-on-a-terminal");
    const init = claudeLine.init({ mcp_servers: [{ name: "corral", status: "connected" }] });
    const result = claudeLine.result();
    writeFileSync(
      fake,
      `#!/bin/bash\ncat > /dev/null\nprintf '\\033[?25l\\033]0;claude\\007'\necho '${init}'\nprintf '\\033[1m\\033[0m'\necho '${result}'\nprintf '\\033[?25h\\033[?1004l\\033[?2004l\\033[<u\\033]0;\\007'\n`,
      { mode: 0o755 },
    );
    const corral = openCorral({ runner: "tmux", backends: { claude: { path: fake } } });
    opened.push(corral);
    const task = unwrap(corral.createTask({ description: "escapes" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p" }));
    const ended = await corral.whenCleaned(agent.id);
    expect([ended.status, ended.cleanupStatus, ended.stream.errors, ended.stream.sessionId]).toEqual(["completed", "done", 0, "s-1"]);
    expect(ended.stream.result).toEqual({ text: "done", isError: false });
    expect(archived(corral, agent.id)).toContain("\u001b[?25h");
    const view = unwrap(corral.status(task.id)).agents[0]!;
    expect(view.flags).toEqual([]);
    const summary = unwrap(await corral.output(task.id, agent.id, { responseFormat: "summary" })).summary!;
    expect(summary.errors).toEqual([]);
    expect(unwrap(await corral.output(task.id, agent.id, {})).text).toBe(`${init}\n${result}\n`);
  });

  it("attaches a terminal to a running agent's pane, and says why when it cannot", async () => {
    const corral = tmuxCorral();
    const home = corral.config.home;
    const task = unwrap(corral.createTask({ description: "attach" }));
    const gate = gatePath("attach");
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "seen through attach", command: gated(gate) }));

    const terminal = inTerminal(home, "attach", agent.id);
    try {
      await waitFor(() => terminal.output().includes("prompt: seen through attach"), "the attached pane");
    } finally {
      terminal.stop();
      await terminal.exited;
    }

    const plain = unwrap(await corral.deploy({ taskId: task.id, agentType: "plain", prompt: "p", command: ["sleep", "300"], runner: "process" }));
    const cli = (...args: string[]) =>
      exec(process.execPath, [CORRAL_BIN, ...args], { env: { ...process.env, CORRAL_HOME: home } }).then(
        (r) => ({ ...r, code: 0 }),
        (e: { stdout: string; stderr: string; code: number }) => e,
      );
    const notTmux = await cli("attach", plain.id);
    expect(notTmux.code).toBe(1);
    expect(notTmux.stderr).toContain(`corral: NOT_ATTACHABLE: ${plain.id} runs as a plain process, not in tmux`);
    expect((await cli("attach", "worker-000000-000000")).stderr).toContain("corral: UNKNOWN_AGENT: AGENT: no agent worker-000000-000000");
    const noTerminal = await cli("attach", agent.id);
    expect([noTerminal.code, noTerminal.stderr]).toEqual([1, "corral: NOT_ATTACHABLE: corral attach needs a terminal on stdin and stdout\n"]);
    expect((await cli("stats")).stdout).toMatch(new RegExp(`^${agent.id}\\s+\\d+ \\(\\+3 tmux\\)\\s+[\\d.]+ MiB \\(\\+[\\d.]+ tmux\\)`, "m"));

    writeFileSync(gate, "");
    await corral.whenCleaned(agent.id);
    expect((await cli("attach", agent.id)).stderr).toContain(`${agent.id} has ended (completed) and its session is closed`);
  });

  it("corral run --runner tmux says how to watch each agent", async () => {
    const home = join(process.env.CORRAL_TEST_ROOT as string, `run-${Date.now()}`);
    const { stdout } = await exec(process.execPath, [CORRAL_BIN, "run", "-r", "tmux", "-b", "command", "say hi", "--", "bash", "-c", "echo hi"], {
      env: { ...process.env, CORRAL_HOME: home },
    });
    expect(stdout).toMatch(/^worker-\S+ runs in tmux: watch it with corral attach worker-\S+$/m);
    expect(stdout).toMatch(/completed/);
    expect(existsSync(join(home, "tmux"))).toBe(true);
  });
});
