import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { RunnerKind } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { isAlive, type ProcessIdentity } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { agentRow } from "./helpers/builders.js";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { withStore } from "./helpers/store.js";

// Corrals are shut down (their agents killed) even when a test fails half-way.
const opened: (Corral | Coordinator)[] = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await ("shutdown" in thing ? thing.shutdown("test over") : thing.close());
});

/** Driven by the test: reconcile() is called, never run by a timer behind its back. */
function corralAt(home: string, orphans: "adopt" | "terminate"): Corral {
  const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), orphans, reconcileMs: 60_000 };
  const corral = unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
  opened.push(corral);
  return corral;
}

async function deployMany(c: Coordinator, taskId: string, n: number, command: string[], runner: RunnerKind = "process"): Promise<{ id: AgentId; root: ProcessIdentity }[]> {
  const agents = [];
  for (let i = 0; i < n; i += 1) {
    const deployed = await c.call<{ agent_id: string; pid: number }>("deploy_headless_agent", {
      task_id: taskId,
      agent_type: "orphan",
      prompt: "p",
      command,
      runner,
    });
    agents.push({ id: deployed.agent_id as AgentId, root: { pid: deployed.pid, startTime: readStat(deployed.pid)!.startTime } });
  }
  return agents;
}

/** A coordinator with 10 live agents and progress on record, killed with SIGKILL. */
async function crashWithAgents(command: string[]) {
  const crashed = await startCoordinator();
  const { task_id } = await crashed.call<{ task_id: string }>("create_real_task", { description: "crash" });
  const agents = await deployMany(crashed, task_id, 10, command);
  // Progress reported while its owner lived, by another process on the same store.
  const reporter = corralAt(crashed.home, "adopt");
  for (const agent of agents) for (let i = 0; i < 5; i += 1) unwrap(await reporter.report(agent.id, { kind: "progress", status: "working", message: `${i}` }));

  // A second corral on the same store, alive throughout: its agents must be left alone.
  const bystander = await startCoordinator({ CORRAL_HOME: crashed.home });
  opened.push(bystander);
  const theirs = await deployMany(bystander, task_id, 2, ["sleep", "300"]);

  process.kill(crashed.transport.pid!, "SIGKILL");
  while (readStat(crashed.transport.pid!) !== null) await sleep(10);
  await crashed.close();
  for (const agent of agents) expect(isAlive(agent.root)).toBe(true);
  return { home: crashed.home, taskId: task_id, agents, theirs };
}

describe("after a corral died without warning", () => {
  it("terminates its agents when orphans=terminate, cleans them, keeps their progress, and spares a live corral's agents", async () => {
    const { home, agents, theirs } = await crashWithAgents(["sleep", "300"]);
    const recovering = corralAt(home, "terminate");
    const report = await recovering.reconcile();

    expect([...report.terminated].sort()).toEqual(agents.map((a) => a.id).sort());
    expect(report.adopted).toEqual([]);
    for (const agent of agents) {
      expect(isAlive(agent.root)).toBe(false);
      const row = recovering.agent(agent.id)!;
      expect([row.status, row.cleanupStatus, row.eventCount]).toEqual(["killed", "done", 5]);
      expect(row.reason).toBe("its corral died (orphans=terminate)");
    }
    for (const agent of theirs) {
      expect(isAlive(agent.root)).toBe(true);
      expect(recovering.agent(agent.id)?.status).toBe("running");
    }
  });

  it("adopts its agents by default, watches them to their end, and can kill them", async () => {
    // The agents end when the test says, not after a fixed time a slow machine might overrun.
    const gate = join(process.env.CORRAL_TEST_ROOT as string, `gate-${process.pid}`);
    const { home, agents } = await crashWithAgents(["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.02; done; echo done`]);
    const recovering = corralAt(home, "adopt");
    const report = await recovering.reconcile();
    expect([...report.adopted].sort()).toEqual(agents.map((a) => a.id).sort());
    expect((await recovering.reconcile()).adopted).toEqual([]);

    const [first, ...rest] = agents;
    unwrap(await recovering.kill(first!.id, "no longer needed"));
    writeFileSync(gate, "");
    for (const agent of rest) {
      const ended = await recovering.whenCleaned(agent.id, 10_000);
      // Not its child: the exit status is gone, and the record says so.
      expect(ended.status).toBe("failed");
      expect(ended.reason).toMatch(/exit status was lost/);
      expect(ended.cleanupStatus).toBe("done");
      expect(ended.eventCount).toBe(5);
    }
    for (const agent of agents) expect(isAlive(agent.root)).toBe(false);
    expect(recovering.agent(first!.id)?.status).toBe("killed");
  });
});

describe.each(["process", "tmux"] as const)("the %s runner's handle, stored on the agent row", (runner) => {
  it("lets a fresh corral find, adopt and stop the agent once its launching corral is gone", async () => {
    const crashed = await startCoordinator();
    const { task_id } = await crashed.call<{ task_id: string }>("create_real_task", { description: "handle" });
    const [agent] = await deployMany(crashed, task_id, 1, ["sleep", "300"], runner);
    const stored = corralAt(crashed.home, "adopt").agent(agent!.id)!.handle;
    process.kill(crashed.transport.pid!, "SIGKILL");
    while (readStat(crashed.transport.pid!) !== null) await sleep(10);
    await crashed.close();

    const recovering = corralAt(crashed.home, "adopt");
    const kept = recovering.runners.get(runner);
    const handle = unwrap(kept.readHandle(stored));
    expect(kept.running(handle)).toBe(true);
    expect((await recovering.reconcile()).adopted).toEqual([agent!.id]);
    expect(recovering.agent(agent!.id)?.handle).toEqual(stored);

    unwrap(await recovering.kill(agent!.id, "found by its handle"));
    const ended = await recovering.whenCleaned(agent!.id, 10_000);
    expect([ended.status, ended.cleanupStatus]).toEqual(["killed", "done"]);
    expect(isAlive(agent!.root)).toBe(false);
    expect(kept.running(handle)).toBe(false);
  });
});

describe("adoption never becomes a kill nobody asked for", () => {
  it("a coordinator that lives a moment hands the orphans it adopted back at its exit, alive, for the next corral", async () => {
    const gate = join(process.env.CORRAL_TEST_ROOT as string, `gate-handback-${process.pid}`);
    const { home, agents, theirs } = await crashWithAgents(["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.02; done; echo done`]);
    const crashedOwner = corralAt(home, "adopt").agent(agents[0]!.id)!.owner;

    // What a health check does: start corral serve, which reconciles at once, and close it.
    const brief = await startCoordinator({ CORRAL_HOME: home });
    const briefPid = brief.transport.pid!;
    const reader = corralAt(home, "adopt");
    while (!agents.every((a) => reader.agent(a.id)!.owner.pid === briefPid)) await sleep(20);
    await brief.close();
    while (readStat(briefPid) !== null) await sleep(10);

    for (const agent of agents) {
      expect(isAlive(agent.root)).toBe(true);
      const row = reader.agent(agent.id)!;
      expect([row.status, row.owner]).toEqual(["running", crashedOwner]);
    }
    for (const agent of theirs) expect(reader.agent(agent.id)?.status).toBe("running");

    const next = corralAt(home, "adopt");
    expect([...(await next.reconcile()).adopted].sort()).toEqual(agents.map((a) => a.id).sort());
    writeFileSync(gate, "");
    for (const agent of agents) expect((await next.whenCleaned(agent.id, 10_000)).cleanupStatus).toBe("done");
  });

  it.each(["adopt", "terminate"] as const)(
    "an orphan that had already exited when found is recorded as it ended, not as killed (orphans=%s)",
    async (orphans) => {
      const gate = join(process.env.CORRAL_TEST_ROOT as string, `gate-ended-${orphans}-${process.pid}`);
      const { home, agents } = await crashWithAgents(["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.02; done; exit 3`]);
      writeFileSync(gate, "");
      for (const agent of agents) while (isAlive(agent.root)) await sleep(10);

      const recovering = corralAt(home, orphans);
      const report = await recovering.reconcile();
      expect([...report.foundEnded].sort()).toEqual(agents.map((a) => a.id).sort());
      expect([report.adopted, report.terminated]).toEqual([[], []]);
      for (const agent of agents) {
        const row = await recovering.whenCleaned(agent.id, 10_000);
        // A plain process keeps no record of its exit status once its parent is gone.
        expect([row.status, row.cleanupStatus, row.exit]).toEqual(["failed", "done", null]);
        expect(row.reason).toMatch(/exit status was lost/);
      }
    },
  );
});

describe("a coordinator watching in the background", () => {
  it("adopts orphans and reaps without being asked", async () => {
    const { home, agents } = await crashWithAgents(["sleep", "300"]);
    const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), reconcileMs: 100, reapMs: 100, stuckMs: 100, onStuck: "terminate" as const };
    const watching = unwrap(Corral.open(config, createLogger("silent"), { watch: true }));
    opened.push(watching);
    for (const agent of agents) {
      const ended = await watching.whenCleaned(agent.id, 10_000);
      expect([ended.status, ended.cleanupStatus]).toEqual(["killed", "done"]);
      expect(ended.reason).toMatch(/^stuck: /);
      expect(isAlive(agent.root)).toBe(false);
    }
  });
});

describe("reconcile costs what changed, not what exists", () => {
  it("reads no row of a corral that lives: one of its rows that cannot be read does not disturb it", async () => {
    const bystander = spawn("sleep", ["60"], { stdio: "ignore" });
    const bystanderExited = new Promise((resolve) => bystander.once("exit", resolve));
    try {
      const home = mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "state-"));
      const corral = corralAt(home, "adopt");
      const task = unwrap(corral.createTask({ description: "bystander" }));
      const owner = { pid: bystander.pid as number, startTime: readStat(bystander.pid as number)!.startTime };
      const id = "w-000000-00000b" as AgentId;
      withStore(home, (store) => unwrap(store.agents.insert(agentRow(task, owner, { id }), corral.config)));
      const db = new Database(join(home, "corral.db"));
      db.prepare("UPDATE agents SET status = 'running', spec = 'not json' WHERE id = ?").run(id);
      db.close();
      const report = await corral.reconcile();
      expect([...report.adopted, ...report.failed, ...report.terminated, ...report.foundEnded]).toEqual([]);
      // Its owner gone, the same row is read, and refused for what it holds.
      bystander.kill("SIGKILL");
      await bystanderExited;
      await expect(corral.reconcile()).rejects.toThrow(/invalid JSON/);
    } finally {
      bystander.kill("SIGKILL");
      await bystanderExited;
    }
  });
});
