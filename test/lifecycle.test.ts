import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { isAlive, identify } from "../src/supervisor/identity.js";
import { childPids, readStat } from "../src/supervisor/procfs.js";
import type { Config } from "../src/domain/config.js";
import { agentRow, exited, launchOf, signalled } from "./helpers/builders.js";
import { agentScript, openCorral as openSandboxCorral } from "./helpers/sandbox.js";
import { withStore } from "./helpers/store.js";
import { localHandle, processHandle } from "./helpers/handles.js";

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

function newTask(c: Corral) {
  return unwrap(c.createTask({ description: "lifecycle test" }));
}

async function deploy(c: Corral, command: string[], extra: { parentId?: string; agentType?: string } = {}) {
  const task = newTask(c);
  return unwrap(await c.deploy({ taskId: task.id, agentType: extra.agentType ?? "worker", prompt: "do the work", command, ...extra }));
}

/** The archived log, with a terminal's CR LF read as LF (a tmux agent's log is its screen's). */
function archived(c: Corral, id: AgentId): string {
  const agent = c.agent(id);
  if (agent?.archivePath == null) throw new Error("no archive");
  return gunzipSync(readFileSync(agent.archivePath)).toString("utf8").replaceAll("\r\n", "\n");
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const pidsIn = (file: string): number[] =>
  readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number);

// With cgroups on "auto" each agent gets a cgroup where the hierarchy is writable; the
// fallbacks (tini's tree, the sweep) are run with cgroups off.
describe.each([
  ["in a process, in its cgroup, with tini", "auto", "process", "auto"],
  ["in a process, with tini as subreaper", "auto", "process", "off"],
  ["in a process, without a subreaper", "none", "process", "off"],
  ["in tmux, in its cgroup, without a subreaper", "none", "tmux", "auto"],
  ["in tmux, with tini as subreaper", "auto", "tmux", "off"],
  ["in tmux, without a subreaper", "none", "tmux", "off"],
] as const)("agent lifecycle %s", (_name, subreaper, runner, cgroups) => {
  const openCorral = (overrides: Partial<Config> = {}): Corral => openSandboxCorral({ runner, cgroups, ...overrides });
  const closeSession = runner === "tmux" ? "ok" : "skipped";
  it("cleans everything after a normal completion", async () => {
    corral = openCorral({ subreaper });
    expect(corral.usesSubreaper).toBe(subreaper === "auto");
    const agent = await deploy(corral, ["bash", "-c", 'echo "out: $(cat)"; echo "to stderr" >&2; echo "prompt file: $(cat "$CORRAL_PROMPT_FILE")"']);
    expect(agent.status).toBe("running");
    const done = await corral.whenCleaned(agent.id);

    expect(done.status).toBe("completed");
    expect(done.exit).toEqual(exited(0));
    expect(done.cleanupStatus).toBe("done");
    expect(done.slotHeld).toBe(false);
    expect(archived(corral, agent.id)).toBe("out: do the work\nto stderr\nprompt file: do the work\n");
    expect(existsSync(done.agentDir)).toBe(false);
    expect(existsSync(done.logPath)).toBe(false);
    const steps = corral.cleanupRecord(agent.id).steps;
    expect(steps.map((s) => [s.step, s.outcome])).toEqual([
      ["terminate", "ok"],
      ["verify", "ok"],
      ["close_session", closeSession],
      ["record_outcome", "ok"],
      ["archive_log", "ok"],
      ["delete_temp_files", "ok"],
      ["release_slot", "ok"],
    ]);
    expect(steps.find((s) => s.step === "release_slot")?.detail).toEqual({ released: true });
    const task = corral.task(agent.taskId);
    expect(task?.activeCount).toBe(0);
    expect(task?.agentCount).toBe(1);
  });

  it("runs a program named by a path relative to the agent's working dir", async () => {
    corral = openCorral({ subreaper });
    const task = newTask(corral);
    writeFileSync(join(task.workspace, "run.sh"), "#!/bin/sh\necho \"ran in $PWD\"\n", { mode: 0o700 });
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "rel", prompt: "p", command: ["./run.sh"], cwd: task.workspace }));
    expect((await corral.whenCleaned(agent.id)).status).toBe("completed");
    expect(archived(corral, agent.id)).toBe(`ran in ${task.workspace}\n`);
  });

  it("records failed on a non-zero exit and crashed on a signal", async () => {
    corral = openCorral({ subreaper });
    const failed = await deploy(corral, ["bash", "-c", "exit 3"]);
    const crashed = await deploy(corral, ["bash", "-c", "kill -SEGV $$"]);
    const f = await corral.whenCleaned(failed.id);
    const c = await corral.whenCleaned(crashed.id);
    expect([f.status, f.exit]).toEqual(["failed", exited(3)]);
    expect([c.status, c.exit]).toEqual(["crashed", signalled("SIGSEGV")]);
    expect([f.cleanupStatus, c.cleanupStatus]).toEqual(["done", "done"]);
  });

  it("loses no byte of a log that is written until the moment of the kill", async () => {
    corral = openCorral({ subreaper });
    const agent = await deploy(corral, [agentScript("writer.sh")]);
    await waitFor(() => existsSync(agent.logPath) && readFileSync(agent.logPath).length > 200_000, "the log to grow");
    const seen = readFileSync(agent.logPath, "utf8").split("\n").length;
    const result = unwrap(await corral.kill(agent.id, "test"));
    expect(result.killedNow).toBe(true);
    expect(result.agent.status).toBe("killed");
    expect(result.cleanup.status).toBe("done");
    const lines = archived(corral, agent.id).split("\n");
    const last = lines.pop() as string;
    // A write to a file is whole; one to a terminal can be cut short by the kill, so under
    // tmux the last line may be the start of the next one.
    if (runner === "process" || last === "") expect(last).toBe("");
    else expect(`line ${lines.length + 1}`.startsWith(last)).toBe(true);
    expect(lines.length).toBeGreaterThanOrEqual(seen - 1);
    lines.forEach((line, i) => {
      if (line !== `line ${i + 1}`) throw new Error(`archive line ${i + 1} is ${JSON.stringify(line)}`);
    });
  });

  it("kills an agent that ignores SIGTERM once the grace period ends, and verifies it gone", async () => {
    corral = openCorral({ subreaper, graceMs: 300 });
    const agent = await deploy(corral, [agentScript("ignore-term.sh")]);
    await waitFor(() => existsSync(agent.logPath) && readFileSync(agent.logPath, "utf8").includes("ignoring"), "the trap");
    const root = { pid: agent.process!.pid, startTime: agent.process!.startTime };
    const result = unwrap(await corral.kill(agent.id));
    const terminate = result.cleanup.steps.find((s) => s.step === "terminate");
    expect(terminate?.outcome).toBe("ok");
    expect(terminate?.detail.escalated).toBe(true);
    expect(terminate?.detail.survivors).toEqual([]);
    expect(terminate?.durationMs).toBeGreaterThanOrEqual(300);
    const signals = (terminate?.detail.signalled as { signals: string[] }[]).flatMap((p) => p.signals);
    expect(signals).toContain("SIGTERM");
    expect(signals).toContain("SIGKILL");
    expect(result.cleanup.steps.find((s) => s.step === "verify")?.outcome).toBe("ok");
    expect(isAlive(root)).toBe(false);
  });

  it("kills every descendant, whether it nohup'd, double-forked or called setsid", async () => {
    corral = openCorral({ subreaper });
    const task = newTask(corral);
    const pidFile = join(task.workspace, "pids");
    const agent = unwrap(
      await corral.deploy({ taskId: task.id, agentType: "daemon", prompt: "p", command: [agentScript("daemonizer.sh"), pidFile] }),
    );
    await waitFor(() => existsSync(pidFile) && pidsIn(pidFile).length === 3, "the descendants");
    const descendants = pidsIn(pidFile).map((pid) => identify(pid)).filter((p) => p !== null);
    expect(descendants).toHaveLength(3);
    // The escapes are real: one left the agent's session, one lost the agent as its parent.
    const stats = descendants.map((p) => readStat(p.pid)!);
    expect(stats.some((s) => s.session !== localHandle(agent).root!.sid)).toBe(true);
    // The double fork's middle process exits just after it wrote the pid: wait for it.
    const orphaned = (): boolean => descendants.some((p) => [agent.process!.pid, 1].includes(readStat(p.pid)?.ppid ?? -1));
    await waitFor(orphaned, "a descendant to lose the agent as its parent");

    const result = unwrap(await corral.kill(agent.id));
    expect(result.cleanup.status).toBe("done");
    for (const p of descendants) expect(isAlive(p), `pid ${p.pid}`).toBe(false);
  });

  it("finds descendants left behind by an agent that exits on its own", async () => {
    corral = openCorral({ subreaper });
    const task = newTask(corral);
    const pidFile = join(task.workspace, "pids");
    const agent = unwrap(
      await corral.deploy({ taskId: task.id, agentType: "daemon", prompt: "p", command: [agentScript("daemonizer.sh"), pidFile, "exit"] }),
    );
    const done = await corral.whenCleaned(agent.id);
    const descendants = pidsIn(pidFile);
    expect(descendants).toHaveLength(3);
    expect(done.status).toBe("completed");
    expect(done.cleanupStatus).toBe("done");
    const terminate = corral.cleanupRecord(agent.id).steps.find((s) => s.step === "terminate");
    const signalled = (terminate?.detail.signalled as { pid: number }[]).map((p) => p.pid).sort();
    expect(signalled).toEqual([...descendants].sort());
    for (const pid of descendants) expect(identify(pid)?.startTime ?? "gone").toBe("gone");
  });

  it("runs every cleanup step when one fails, and a retry finishes the job", async () => {
    corral = openCorral({ subreaper });
    const agent = await deploy(corral, ["bash", "-c", "echo finished"]);
    // A directory where the archive's temporary file must go makes archiving fail for real.
    const blocker = join(corral.workspaces.root, agent.taskId, "archive", `${agent.id}.log.gz.partial`);
    mkdirSync(blocker);
    const first = await corral.whenCleaned(agent.id);
    expect(first.cleanupStatus).toBe("partial");
    expect(corral.cleanupRecord(agent.id).steps.map((s) => [s.step, s.outcome])).toEqual([
      ["terminate", "ok"],
      ["verify", "ok"],
      ["close_session", closeSession],
      ["record_outcome", "ok"],
      ["archive_log", "failed"],
      ["delete_temp_files", "ok"],
      ["release_slot", "ok"],
    ]);
    expect(first.slotHeld).toBe(false);
    expect(existsSync(first.logPath)).toBe(true);

    rmdirSync(blocker);
    expect(await corral.retryCleanups()).toBe(1);
    const second = corral.agent(agent.id)!;
    expect(second.cleanupStatus).toBe("done");
    expect(second.cleanupAttempts).toBe(2);
    const retried = corral.cleanupRecord(agent.id).steps.filter((s) => s.attempt === 2);
    expect(retried.map((s) => [s.step, s.outcome])).toEqual([["archive_log", "ok"]]);
    expect(archived(corral, agent.id)).toBe("finished\n");
  });

  it("kills an agent in the moment after its launch, before it could start its program", async () => {
    corral = openCorral({ subreaper });
    const task = newTask(corral);
    const kills = [];
    for (let i = 0; i < 10; i += 1) {
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "early", prompt: "p", command: ["sleep", "300"] }));
      kills.push(corral.kill(agent.id));
    }
    for (const result of (await Promise.all(kills)).map(unwrap)) {
      expect(result.cleanup.status).toBe("done");
      expect(result.cleanup.steps.find((s) => s.step === "terminate")?.detail.survivors).toEqual([]);
    }
  });

  it("stops the process of an agent that another process killed while it was being launched", async () => {
    corral = openCorral({ subreaper });
    const task = newTask(corral);
    // A pending row owned by a live process (this one) that has not recorded its process yet.
    const id = "late-000000-000001" as AgentId;
    unwrap(
      withStore(corral.config.home, (store) => store.agents.insert(agentRow(task, corral.owner, { id, mark: "late" }), corral.config)),
    );
    const killing = corral.kill(id, "killed while launching");
    await sleep(100);
    const child = spawn("sleep", ["300"], { detached: true, stdio: "ignore", env: { ...process.env, CORRAL_MARK: "late" } });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const stat = readStat(child.pid!)!;
    withStore(corral.config.home, (store) => store.runs.recordLaunch(id, launchOf(stat, processHandle(id, "late", { pid: child.pid!, startTime: stat.startTime, sid: stat.session })), Date.now()));
    const result = unwrap(await killing);
    const outcome = await Promise.race([exited.then(() => "exited"), sleep(5000).then(() => "still running")]);
    if (outcome !== "exited") child.kill("SIGKILL");
    expect(outcome).toBe("exited");
    expect(result.agent.status).toBe("killed");
    expect(result.cleanup.steps.find((s) => s.step === "terminate")?.detail.signalled).toEqual([
      { pid: child.pid, startTime: stat.startTime, signals: ["SIGTERM"] },
    ]);
    expect(child.signalCode).toBe("SIGTERM");
  });

  it("kills a parent's children with it", async () => {
    corral = openCorral({ subreaper });
    const parent = await deploy(corral, ["sleep", "300"], { agentType: "lead" });
    const child = unwrap(
      await corral.deploy({ taskId: parent.taskId, agentType: "helper", prompt: "p", parentId: parent.id, command: ["sleep", "300"] }),
    );
    const grandchild = unwrap(
      await corral.deploy({ taskId: parent.taskId, agentType: "helper", prompt: "p", parentId: child.id, command: ["sleep", "300"] }),
    );
    expect([child.depth, grandchild.depth]).toEqual([1, 2]);
    unwrap(await corral.kill(parent.id));
    for (const a of [parent, child, grandchild]) {
      const now = corral.agent(a.id)!;
      expect(now.status).toBe("killed");
      expect(now.cleanupStatus).toBe("done");
      expect(isAlive({ pid: a.process!.pid, startTime: a.process!.startTime })).toBe(false);
    }
    expect(corral.agent(grandchild.id)?.reason).toBe(`parent ${child.id} was killed`);
    expect(corral.task(parent.taskId)?.activeCount).toBe(0);
  });

  it("ends an agent that cannot launch as failed, and still cleans it", async () => {
    corral = openCorral({ subreaper });
    const task = newTask(corral);
    const result = await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p", command: ["no-such-program-corral"] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe("LAUNCH_FAILED");
    expect(result.error.message).toContain("no-such-program-corral");
    const [agent] = withStore(corral.config.home, (store) => store.agents.forTask(task.id));
    expect(agent?.status).toBe("failed");
    expect(agent?.reason).toContain("not found");
    expect(agent?.cleanupStatus).toBe("done");
    expect(agent?.slotHeld).toBe(false);
    expect(corral.task(task.id)?.activeCount).toBe(0);
  });
});

describe("with 1,000 unrelated processes on the machine", () => {
  it("cleans up fast and touches none of them", async () => {
    corral = openSandboxCorral();
    const crowd = spawn("bash", ["-c", "for i in $(seq 1000); do sleep 300 & done; echo ready; wait"], {
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
    });
    try {
      await new Promise<void>((resolve) => crowd.stdout.once("data", () => resolve()));
      const crowdPids = childPids(crowd.pid!);
      expect(crowdPids.length).toBe(1000);
      const before = crowdPids.map((pid) => identify(pid)!);

      const killed = await deploy(corral, ["sleep", "300"]);
      const kill = unwrap(await corral.kill(killed.id));
      const finished = await deploy(corral, ["bash", "-c", "sleep 300 & disown; exit 0"]);
      const done = await corral.whenCleaned(finished.id);

      expect(kill.cleanup.status).toBe("done");
      expect(done.cleanupStatus).toBe("done");
      const times = [...kill.cleanup.steps, ...corral.cleanupRecord(finished.id).steps]
        .filter((s) => s.step === "terminate")
        .map((s) => Math.round(s.durationMs));
      console.log(`terminate with 1,000 unrelated processes: ${times.join(" ms, ")} ms`);
      expect(before.every((p) => isAlive(p))).toBe(true);
    } finally {
      process.kill(-crowd.pid!, "SIGKILL");
      await new Promise((resolve) => crowd.once("close", resolve));
    }
  });
});

describe("cleanup telemetry", () => {
  it("reports the success rate and durations, and raises a step that keeps failing", async () => {
    corral = openSandboxCorral();
    const ok = await deploy(corral, ["true"]);
    await corral.whenCleaned(ok.id);
    const failing = [];
    for (let i = 0; i < 3; i += 1) {
      const agent = await deploy(corral, ["bash", "-c", "sleep 0.2"]);
      mkdirSync(join(corral.workspaces.root, agent.taskId, "archive", `${agent.id}.log.gz.partial`));
      failing.push(agent);
    }
    for (const agent of failing) await corral.whenCleaned(agent.id);
    const health = unwrap(corral.status(ok.taskId)).cleanupHealth;
    expect(health).toMatchObject({ finished: 4, done: 1, partial: 3, successRate: 0.25, failingSteps: { archive_log: 3 } });
    expect(health.durationMs.p50).toBeGreaterThan(0);
    expect(health.warnings).toEqual(["cleanup step archive_log failed 3 times recently", "3 agents have a partial cleanup waiting for a retry"]);

    for (const agent of failing) rmdirSync(join(corral.workspaces.root, agent.taskId, "archive", `${agent.id}.log.gz.partial`));
    expect(await corral.retryCleanups()).toBe(3);
    expect(unwrap(corral.status(ok.taskId)).cleanupHealth).toMatchObject({ done: 4, partial: 0, successRate: 1 });
  });
});
