import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import { RUNNER_KINDS, type RunnerKind } from "../src/domain/config.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { PendingRecords } from "../src/lifecycle/pending-records.js";
import { parseLockLine, writeLockPids } from "../src/store/lock-holder.js";
import { isAlive } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { exited, pendingEnding } from "./helpers/builders.js";
import { holdWriteLock, type HeldLock } from "./helpers/lock-holder.js";
import { CORRAL_BIN, startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";
import { withStore } from "./helpers/store.js";

const run = promisify(execFile);

const corrals: Corral[] = [];
const locks: HeldLock[] = [];
const servers: Coordinator[] = [];
afterEach(async () => {
  for (const lock of locks.splice(0)) await lock.release();
  for (const server of servers.splice(0)) await server.close();
  for (const corral of corrals.splice(0).reverse()) {
    await corral.recordPending();
    await corral.shutdown("test over");
  }
});

function open(home?: string, runner: RunnerKind = "process"): Corral {
  const corral =
    home === undefined
      ? openCorral({ runner })
      : unwrap(Corral.open({ ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), runner }, createLogger("silent"), { watch: false }));
  corrals.push(corral);
  return corral;
}

async function lock(corral: Corral): Promise<HeldLock> {
  const held = await holdWriteLock(join(corral.config.home, "corral.db"));
  locks.push(held);
  return held;
}

/** Waits, without a deadline of its own (the test's timeout is one), until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(10);
}

describe.each(RUNNER_KINDS)("with another process holding the database's write lock, agents in a %s", (runner) => {
    it("a kill still stops the agent's processes, verified, and is recorded once the lock is released", async () => {
      const corral = open(undefined, runner);
      const task = unwrap(corral.createTask({ description: "kill under lock" }));
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "victim", prompt: "p", command: ["sleep", "300"] }));
      const root = { pid: agent.process!.pid, startTime: agent.process!.startTime };
      const held = await lock(corral);

      const killed = await corral.kill(agent.id);
      expect(killed.ok).toBe(false);
      if (killed.ok) return;
      expect(killed.error.code).toBe("DB_BUSY");
      expect(killed.error.message).toContain(`${agent.id} was stopped (`);
      expect(killed.error.message).toContain(`pid ${held.pid} (node)`);
      expect(isAlive(root)).toBe(false);
      expect(corral.agent(agent.id)?.status).toBe("running");
      // The kill, and perhaps the exit it caused, which queues behind it.
      expect(corral.pendingCount()).toBeGreaterThanOrEqual(1);

      await held.release();
      expect(await corral.recordPending()).toBeGreaterThanOrEqual(1);
      const after = await corral.whenCleaned(agent.id);
      expect([after.status, after.cleanupStatus, after.slotHeld]).toEqual(["killed", "done", false]);
      const terminate = corral.cleanupRecord(agent.id).steps.find((s) => s.step === "terminate");
      expect(terminate?.detail.stoppedBeforeRecorded).toMatchObject({ survivors: [] });
      // Something was signalled (in a cgroup, tini is left to exit with its child), and nothing survived.
      expect((terminate?.detail.stoppedBeforeRecorded as { signalled: number[] }).signalled.length).toBeGreaterThan(0);
      // The exit the kill caused may have been seen during that pass: it is recorded at the next.
      await until(() => corral.pendingCount() === 0);
    });

    it("a bystander's exit 7 is kept, and once the lock is released it ends failed with exit code 7 and its slot is freed", async () => {
      const corral = open(undefined, runner);
      const task = unwrap(corral.createTask({ description: "bystander" }));
      const gate = join(task.workspace, "go");
      const agent = unwrap(
        await corral.deploy({ taskId: task.id, agentType: "bystander", prompt: "p", command: ["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.01; done; exit 7`] }),
      );
      const held = await lock(corral);
      writeFileSync(gate, "");
      await until(() => corral.pendingCount() === 1);
      const during = corral.agent(agent.id)!;
      expect([during.status, during.slotHeld]).toEqual(["running", true]);
      const journal = join(corral.config.home, "pending");
      expect(statSync(journal).mode & 0o777).toBe(0o700);
      for (const name of readdirSync(journal)) expect(statSync(join(journal, name)).mode & 0o777).toBe(0o600);

      await held.release();
      await corral.recordPending();
      const after = await corral.whenCleaned(agent.id);
      expect([after.status, after.exit, after.cleanupStatus, after.slotHeld]).toEqual(["failed", exited(7), "done", false]);
      expect(corral.task(task.id)?.activeCount).toBe(0);
      expect(withStore(corral.config.home, (store) => store.agents.countHoldingSlots())).toBe(0);
    });

    it("a shutdown stops every agent though nothing can be written, and the next corral records the kills", async () => {
      const first = open(undefined, runner);
      const task = unwrap(first.createTask({ description: "shutdown under lock" }));
      const agents = [];
      for (let i = 0; i < 3; i += 1) agents.push(unwrap(await first.deploy({ taskId: task.id, agentType: "s", prompt: "p", command: ["sleep", "300"] })));
      const held = await lock(first);
      await first.shutdown("test shutdown");
      for (const agent of agents) expect(isAlive({ pid: agent.process!.pid, startTime: agent.process!.startTime })).toBe(false);
      await held.release();

      const next = open(first.config.home, runner);
      await next.reconcile();
      for (const agent of agents) {
        const after = await next.whenCleaned(agent.id);
        expect([after.status, after.reason, after.cleanupStatus, after.slotHeld]).toEqual(["killed", "test shutdown", "done", false]);
      }
    });
});

describe("with another process holding the database's write lock", () => {


  it("calls that must write answer DB_BUSY naming the holder's pid, and reads and status still answer", async () => {
    const corral = open();
    const task = unwrap(corral.createTask({ description: "busy" }));
    const running = unwrap(await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p", command: ["sleep", "300"] }));
    const held = await lock(corral);

    const deployed = await corral.deploy({ taskId: task.id, agentType: "late", prompt: "p", command: ["sleep", "300"] });
    const created = corral.createTask({ description: "refused" });
    const reported = await corral.report(running.id, { kind: "progress", status: "working", message: "m" });
    for (const result of [deployed, created, reported]) {
      expect(result.ok ? "ok" : result.error.code).toBe("DB_BUSY");
      if (!result.ok) expect(result.error.message).toContain(`pid ${held.pid} (node) holds its write lock`);
    }
    const status = unwrap(corral.status(task.id));
    expect(status.agents.map((a) => a.agentId)).toEqual([running.id]);
    expect(status.database).toMatchObject({ writable: false, lockedBy: [{ pid: held.pid, command: "node" }] });
    expect(corral.listTasks()).toHaveLength(1);

    await held.release();
    expect(unwrap(corral.status(task.id)).database).toMatchObject({ writable: true, lockedBy: [] });
  });

  it("over MCP, a deploy answers DB_BUSY with the holder's pid and task status says who holds the lock", async () => {
    const server = await startCoordinator();
    servers.push(server);
    const { task_id } = await server.call<{ task_id: string }>("create_real_task", { description: "mcp busy" });
    const held = await holdWriteLock(join(server.home, "corral.db"));
    locks.push(held);
    const refused = await server.refused("deploy_headless_agent", { task_id, agent_type: "late", prompt: "p", command: ["sleep", "300"] });
    expect(refused).toMatch(new RegExp(`^DB_BUSY: .*pid ${held.pid} \\(node\\) holds its write lock`));
    const status = await server.call<{ database: { writable: boolean; locked_by: { pid: number }[] } }>("get_real_task_status", { task_id });
    expect(status.database.writable).toBe(false);
    expect(status.database.locked_by.map((h) => h.pid)).toEqual([held.pid]);
  });

  it("killing the agent that holds the lock stops it and records the kill at once", async () => {
    const corral = open();
    const task = unwrap(corral.createTask({ description: "locking agent" }));
    const worker = join(import.meta.dirname, "..", "dist", "test", "fixtures", "workers", "hold-lock.js");
    // Its stdin is the prompt file, which ends at once: keep it open with a pipe from sleep.
    const agent = unwrap(
      await corral.deploy({
        taskId: task.id,
        agentType: "locker",
        prompt: "p",
        command: ["bash", "-c", `sleep 300 | ${process.execPath} ${worker} ${join(corral.config.home, "corral.db")}`],
      }),
    );
    await until(() => !corral.database().writable);

    const killed = unwrap(await corral.kill(agent.id));
    expect(killed.killedNow).toBe(true);
    expect([killed.agent.status, killed.agent.cleanupStatus, killed.agent.slotHeld]).toEqual(["killed", "done", false]);
    // The exit the kill caused may queue behind it in the journal, and is recorded by the next
    // retry: it is seen once the exit is on the row and the journal empty, in either order.
    await until(() => corral.agent(agent.id)?.exit != null && corral.pendingCount() === 0);
    expect(corral.agent(agent.id)?.status).toBe("killed");
  });

  it("an end kept in the journal outlives its corral: the next corral records it", async () => {
    const first = open();
    const task = unwrap(first.createTask({ description: "journal" }));
    const gate = join(task.workspace, "go");
    const agent = unwrap(
      await first.deploy({ taskId: task.id, agentType: "quitter", prompt: "p", command: ["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.01; done; exit 3`] }),
    );
    const held = await lock(first);
    writeFileSync(gate, "");
    await until(() => first.pendingCount() === 1);
    await first.close();
    await held.release();

    const next = open(first.config.home);
    await next.reconcile();
    const after = await next.whenCleaned(agent.id as AgentId);
    expect([after.status, after.exit, after.cleanupStatus, after.slotHeld]).toEqual(["failed", exited(3), "done", false]);
    expect(next.pendingCount()).toBe(0);
  });


  it("corral serve, closed by its client while the lock is held, stops its agents and exits; the next corral records the kills", async () => {
    const server = await startCoordinator();
    const { task_id } = await server.call<{ task_id: string }>("create_real_task", { description: "serve under lock" });
    const deployed = await server.call<{ agent_id: string; pid: number }>("deploy_headless_agent", {
      task_id,
      agent_type: "sleeper",
      prompt: "p",
      command: ["sleep", "300"],
    });
    const held = await holdWriteLock(join(server.home, "corral.db"));
    locks.push(held);
    const serverPid = server.transport.pid as number;
    await server.close();
    const gone = (pid: number) => readStat(pid) === null || readStat(pid)?.state === "Z";
    await until(() => gone(serverPid));
    expect(gone(deployed.pid)).toBe(true);
    await held.release();

    const next = open(server.home);
    await next.reconcile();
    const after = await next.whenCleaned(deployed.agent_id as AgentId);
    expect([after.status, after.reason, after.cleanupStatus, after.slotHeld]).toEqual(["killed", "corral stopped: its MCP client went away", "done", false]);
  });

  it("corral doctor names the pid and command holding the lock", async () => {
    const corral = open();
    const held = await lock(corral);
    const doctor = run(process.execPath, [CORRAL_BIN, "doctor"], { env: { ...process.env, CORRAL_HOME: corral.config.home } });
    const failed = await doctor.then(
      () => null,
      (cause: { code: number; stdout: string }) => cause,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toContain(`database lock: the database ${join(corral.config.home, "corral.db")} is locked: pid ${held.pid} (node) holds its write lock`);
    await held.release();
  });
});

describe("the write lock's holder, from /proc/locks", () => {
  const shm = { major: 0xfe, minor: 0, inode: 2147792 };
  const db = { major: 0xfe, minor: 0, inode: 2147790 };
  const locks = [
    "1: POSIX  ADVISORY  READ 17644 fe:00:2147795 128 128",
    "5: POSIX  ADVISORY  WRITE 18687 fe:00:2147792 120 120",
    "6: POSIX  ADVISORY  READ 18687 fe:00:2147792 123 123",
    "7: POSIX  ADVISORY  WRITE 4242 fe:00:2147792 123 123",
    "8: POSIX  ADVISORY  READ 18687 fe:00:2147790 1073741826 1073742335",
    "9: -> POSIX  ADVISORY  WRITE 5555 fe:00:2147792 120 120",
  ].join("\n");

  it("is the process with a write lock on byte 120 of the -shm file (WAL_WRITE_LOCK); readers and waiters are not", () => {
    expect(writeLockPids(locks, db, shm, 1)).toEqual([18687]);
  });

  it("in rollback mode, is the process with a write lock on the database file's RESERVED byte", () => {
    expect(writeLockPids("3: POSIX  ADVISORY  WRITE 77 fe:00:2147790 1073741825 1073741825", db, null, 1)).toEqual([77]);
  });

  it("is never this process, and locks on another device's same inode do not count", () => {
    expect(writeLockPids(locks, db, shm, 18687)).toEqual([]);
    expect(writeLockPids(locks, db, { ...shm, major: 8 }, 1)).toEqual([]);
  });

  it("reads a range to EOF and OFD locks' pid -1", () => {
    expect(parseLockLine("2: POSIX  ADVISORY  WRITE 9 08:01:55 0 EOF")).toMatchObject({ pid: 9, start: 0, end: Number.MAX_SAFE_INTEGER });
    expect(writeLockPids("2: OFDLCK ADVISORY  WRITE -1 fe:00:2147792 120 120", db, shm, 1)).toEqual([]);
  });
});

describe("the journal of ends the database refused", () => {
  it("gives its records back oldest first, and says which agents have one waiting", async () => {
    const journal = new PendingRecords(join(process.env.CORRAL_TEST_ROOT as string, "journal-order"), createLogger("silent"));
    await journal.add(pendingEnding("b-1", 20));
    const first = await journal.add(pendingEnding("a-1", 10));
    expect(journal.list().map((e) => e.record.agentId)).toEqual(["a-1", "b-1"]);
    expect([journal.hasAgent("a-1"), journal.hasAgent("c-1")]).toEqual([true, false]);
    journal.remove(first);
    journal.remove(first);
    expect(journal.list().map((e) => e.record.agentId)).toEqual(["b-1"]);
  });

  it("sets a damaged record aside as .bad and still gives back the others", async () => {
    const dir = join(process.env.CORRAL_TEST_ROOT as string, "journal-damaged");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "x-1.1.ffff.json"), "{ not json");
    const journal = new PendingRecords(dir, createLogger("silent"));
    await journal.add(pendingEnding("y-1", 5));
    expect(journal.list().map((e) => e.record.agentId)).toEqual(["y-1"]);
    const files = readdirSync(dir);
    expect(files).toContain("x-1.1.ffff.json.bad");
    expect(files.filter((name) => name.startsWith("y-1."))).toHaveLength(1);
  });
});
