import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Config } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { FOLLOW_FAILURES_ALLOWED } from "../src/lifecycle/stream-follower.js";
import { readStat } from "../src/supervisor/procfs.js";
import { claudeLine } from "./helpers/builders.js";
import { taggedProcesses } from "./helpers/leak-guard.js";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { withStore } from "./helpers/store.js";

// Corrals are shut down (their agents killed) even when a test fails half-way.
const opened: (Corral | Coordinator)[] = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await ("shutdown" in thing ? thing.shutdown("test over") : thing.close());
});

/** A coordinator that dies for real (SIGKILL) when it reaches the named failpoint. */
async function dyingAt(failpoint: string, runner = "process"): Promise<{ server: Coordinator; taskId: string }> {
  const server = await startCoordinator({ CORRAL_FAILPOINTS: failpoint, CORRAL_RUNNER: runner });
  const { task_id } = await server.call<{ task_id: string }>("create_real_task", { description: failpoint });
  return { server, taskId: task_id };
}

async function died(server: Coordinator): Promise<void> {
  const pid = server.transport.pid!;
  while (readStat(pid) !== null && readStat(pid)?.state !== "Z") await sleep(10);
  await server.close();
}

function recover(home: string, overrides: Partial<Config> = {}): Corral {
  const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), reconcileMs: 60_000, ...overrides };
  const corral = unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
  opened.push(corral);
  return corral;
}

const sleepers = () => taggedProcesses().filter((pid) => ["sleep", "tini"].includes(readStat(pid)?.comm ?? ""));
const tmuxServers = () => taggedProcesses().filter((pid) => readStat(pid)?.comm.startsWith("tmux") === true);

describe("kill -9 at the worst moments", () => {
  it.each([
    ["deploy:after-insert", "process"],
    ["deploy:after-spawn", "process"],
    ["deploy:after-spawn", "tmux"],
  ])("mid-deploy (%s, %s runner): the next corral ends the agent failed and nothing survives", async (point, runner) => {
    const { server, taskId } = await dyingAt(point, runner);
    const call = server.client.callTool({ name: "deploy_headless_agent", arguments: { task_id: taskId, agent_type: "doomed", prompt: "p", command: ["sleep", "300"] } });
    await expect(call).rejects.toThrow();
    await died(server);
    // The agent did start: its first process may still be the shell that enters its cgroup.
    for (let i = 0; point === "deploy:after-spawn" && sleepers().length === 0 && i < 500; i += 1) await sleep(10);
    if (point === "deploy:after-spawn") expect(sleepers().length).toBeGreaterThan(0);

    const corral = recover(server.home);
    const report = await corral.reconcile();
    expect(report.failed).toHaveLength(1);
    const agent = corral.agent(report.failed[0] as AgentId)!;
    expect([agent.status, agent.reason, agent.cleanupStatus, agent.slotHeld]).toEqual(["failed", "its corral died while launching it", "done", false]);
    expect(sleepers()).toEqual([]);
    expect(tmuxServers()).toEqual([]);
    expect(corral.task(agent.taskId)?.activeCount).toBe(0);
  });

  it("mid-cleanup (after terminate): the next corral takes the cleanup over and finishes it", async () => {
    const { server, taskId } = await dyingAt("cleanup:after-terminate");
    const deployed = await server.call<{ agent_id: string }>("deploy_headless_agent", {
      task_id: taskId,
      agent_type: "victim",
      prompt: "p",
      command: ["bash", "-c", "echo logged; exec sleep 300"],
    });
    await sleep(100);
    await expect(server.client.callTool({ name: "kill_real_agent", arguments: { task_id: taskId, agent_id: deployed.agent_id } })).rejects.toThrow();
    await died(server);

    const corral = recover(server.home);
    const before = corral.agent(deployed.agent_id as AgentId)!;
    expect([before.status, before.cleanupStatus]).toEqual(["killed", "running"]);
    const report = await corral.reconcile();
    expect(report.cleanupsTakenOver).toEqual([deployed.agent_id]);
    const after = corral.agent(deployed.agent_id as AgentId)!;
    expect([after.cleanupStatus, after.cleanupAttempts, after.slotHeld]).toEqual(["done", 2, false]);
    expect(existsSync(after.agentDir)).toBe(false);
    expect(unwrap(await corral.output(taskId, deployed.agent_id, {})).text).toBe("logged\n");
    expect(sleepers()).toEqual([]);
  });
});

describe("hard agents", () => {
  it("50 agents completing at the same instant: each recorded and cleaned once, counters exact", async () => {
    const corral = recover(mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "fifty-")), { maxConcurrentAgents: 50 });
    const task = unwrap(corral.createTask({ description: "fifty" }));
    const gate = join(task.workspace, "go");
    const ids: AgentId[] = [];
    for (let i = 0; i < 50; i += 1) {
      const agent = unwrap(
        await corral.deploy({
          taskId: task.id,
          agentType: "racer",
          prompt: "p",
          command: ["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.01; done; echo finished ${i}`],
        }),
      );
      ids.push(agent.id);
    }
    writeFileSync(gate, "");
    const ended = await Promise.all(ids.map((id) => corral.whenCleaned(id, 30_000)));
    expect(ended.every((a) => a.status === "completed" && a.cleanupStatus === "done" && a.cleanupAttempts === 1)).toBe(true);
    for (const id of ids) expect(corral.cleanupRecord(id).steps.filter((s) => s.step === "release_slot")).toHaveLength(1);
    expect(corral.task(task.id)).toMatchObject({ agentCount: 50, activeCount: 0 });
    expect(withStore(corral.config.home, (store) => store.agents.countHoldingSlots())).toBe(0);
  });

  it("an agent that floods 100 MB of output and one that exits in 10 ms are both recorded in full", async () => {
    const corral = recover(mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "flood-")));
    const task = unwrap(corral.createTask({ description: "flood" }));
    const flood = unwrap(await corral.deploy({ taskId: task.id, agentType: "flood", prompt: "p", command: ["head", "-c", "104857600", "/dev/zero"] }));
    const quick = unwrap(await corral.deploy({ taskId: task.id, agentType: "quick", prompt: "p", command: ["true"] }));
    const [flooded, quickEnd] = await Promise.all([corral.whenCleaned(flood.id, 60_000), corral.whenCleaned(quick.id, 10_000)]);
    expect([flooded.status, flooded.cleanupStatus, quickEnd.status, quickEnd.cleanupStatus]).toEqual(["completed", "done", "completed", "done"]);
    const archive = corral.cleanupRecord(flood.id).steps.find((s) => s.step === "archive_log");
    expect(archive?.detail.bytes).toBe(104_857_600);
    expect(statSync(flooded.archivePath!).size).toBeLessThan(1_000_000);
  });
});

describe("errors that will not go away", () => {
  it("a log that cannot be read is given up on after a few reads, not retried forever, and read again at the agent's end", async () => {
    const home = mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "unreadable-"));
    const gate = join(home, "go");
    // A claude-like CLI: a structured stream the follower reads while it runs.
    const fake = join(home, "claude-like");
    const init = claudeLine.init();
    writeFileSync(fake, `#!/bin/bash\ncat > /dev/null\necho '${init}'\nwhile [ ! -e ${gate} ]; do sleep 0.02; done\n`, { mode: 0o755 });
    const logged: { msg: string }[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => logged.push(JSON.parse(line) as { msg: string }) });
    const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), backends: { claude: { path: fake } } };
    const corral = unwrap(Corral.open(config, logger, { watch: false }));
    opened.push(corral);
    const task = unwrap(corral.createTask({ description: "unreadable log" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p" }));
    // The log becomes something no read can take: every read now fails the same way.
    rmSync(agent.logPath);
    mkdirSync(agent.logPath);

    const failedReads = () => logged.filter((l) => l.msg === "reading the agent's stream failed").length;
    while (!logged.some((l) => l.msg.startsWith("stopped following the agent's stream"))) await sleep(20);
    expect(failedReads()).toBe(FOLLOW_FAILURES_ALLOWED - 1);

    writeFileSync(gate, "");
    const ended = await corral.whenCleaned(agent.id, 10_000);
    // The end reads the log once more, and says why it could not.
    expect([ended.status, ended.cleanupStatus]).toEqual(["completed", "partial"]);
    expect(failedReads()).toBe(FOLLOW_FAILURES_ALLOWED - 1);
    const steps = corral.cleanupRecord(agent.id).steps;
    expect(steps.find((s) => s.step === "record_outcome")?.error).toMatch(/EISDIR/);

    rmSync(agent.logPath, { recursive: true });
    writeFileSync(agent.logPath, `${init}\n`);
    await corral.retryCleanups();
    expect(corral.agent(agent.id)).toMatchObject({ cleanupStatus: "done", stream: expect.objectContaining({ sessionId: "s-1" }) });
  });
});
