import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { Config } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { findExecutable } from "../src/runners/executables.js";
import { cgroupMembers, Cgroups, parseCgroup2Mount, parseOwnCgroup } from "../src/supervisor/cgroup.js";
import { identify, isAlive, signalProcess, type ProcessIdentity } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { usageOf } from "../src/supervisor/usage.js";
import { localHandle } from "./helpers/handles.js";
import { CORRAL_BIN, startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { agentScript, openCorral } from "./helpers/sandbox.js";

const run = promisify(execFile);

/** Why agents cannot get a cgroup here, or null when they can (as root on a v2 host: CI). */
const unusable = ((): string | null => {
  const probe = Cgroups.open(join(tmpdir(), `corral-cgroup-probe-${process.pid}`));
  return probe.ok ? null : probe.error.message;
})();
const withCgroups = unusable === null ? "" : ` (skipped: ${unusable})`;
const tini = findExecutable("tini", process.env.PATH);

// Processes that cleared their environment carry no leak-guard tag: each test records their
// pids and whatever outlives a failed assertion is killed here.
let corral: Corral | null = null;
const escapers: ProcessIdentity[] = [];
const coordinators: Coordinator[] = [];
afterEach(async () => {
  await corral?.shutdown("test over");
  corral = null;
  for (const c of coordinators.splice(0)) await c.close();
  for (const p of escapers.splice(0)) signalProcess(p, "SIGKILL");
});

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; !check(); i += 1) {
    if (i > 1000) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The escaper's identity, once the agent has written it. */
async function escaperOf(pidFile: string): Promise<ProcessIdentity> {
  await waitFor(() => existsSync(pidFile), "the escaper's pid");
  const escaper = identify(Number(readFileSync(pidFile, "utf8")));
  if (escaper === null) throw new Error("the escaper is not running");
  escapers.push(escaper);
  return escaper;
}

async function deployEscaper(c: Corral, then: "exit" | "stay") {
  const task = unwrap(c.createTask({ description: "escaper" }));
  const pidFile = join(task.workspace, "escaper.pid");
  const agent = unwrap(await c.deploy({ taskId: task.id, agentType: "escaper", prompt: "p", command: [agentScript("escaper.sh"), pidFile, then] }));
  const escaper = await escaperOf(pidFile);
  // The escape is real: it left the agent's session, and its environment holds no mark.
  expect(readStat(escaper.pid)?.session).not.toBe(localHandle(agent).root?.sid);
  expect(readFileSync(`/proc/${escaper.pid}/environ`, "latin1")).not.toContain("CORRAL_MARK=");
  writeFileSync(`${pidFile}.go`, "");
  return { agent, escaper };
}

const step = (c: Corral, id: AgentId, name: string) => c.cleanupRecord(id).steps.find((s) => s.step === name);

describe("cgroup v2 on this host", () => {
  it("finds the v2 mount and this process's cgroup from /proc", () => {
    const mounts = "cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
    expect(parseCgroup2Mount(mounts)).toBe("/sys/fs/cgroup/unified");
    expect(parseCgroup2Mount("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n")).toBeNull();
    expect(parseOwnCgroup("4:memory:/x\n0::/user.slice/app.scope\n")).toBe("/user.slice/app.scope");
    expect(parseOwnCgroup("4:memory:/x\n")).toBeNull();
  });
});

describe.each(["process", "tmux"] as const)(`an agent in its own cgroup, %s runner${withCgroups}`, (runner) => {
  const open = (overrides: Partial<Config>): Corral => openCorral({ runner, cgroups: "on", ...overrides });

  it.skipIf(unusable !== null)("leaves no `setsid env -i` descendant once its agent exits on its own, even under tini, and the receipt names cgroup", async () => {
    corral = open({ subreaper: "auto" });
    const { agent, escaper } = await deployEscaper(corral, "exit");
    const done = await corral.whenCleaned(agent.id);
    expect([done.status, done.cleanupStatus]).toEqual(["completed", "done"]);
    expect(isAlive(escaper)).toBe(false);
    const record = corral.cleanupRecord(agent.id);
    expect([record.verifiedBy, record.blindSpots]).toEqual(["cgroup", []]);
    expect((step(corral, agent.id, "terminate")?.detail.signalled as { pid: number }[]).map((p) => p.pid)).toContain(escaper.pid);
  });

  it.skipIf(unusable !== null)("leaves no `setsid env -i` descendant after a kill without tini, and the receipt names cgroup", async () => {
    corral = open({ subreaper: "none" });
    const { agent, escaper } = await deployEscaper(corral, "stay");
    const killed = unwrap(await corral.kill(agent.id));
    expect(killed.cleanup.status).toBe("done");
    expect(isAlive(escaper)).toBe(false);
    expect([killed.cleanup.verifiedBy, killed.cleanup.blindSpots]).toEqual(["cgroup", []]);
    expect(step(corral, agent.id, "terminate")?.detail.method).toBe("cgroup");
  });

  it.skipIf(unusable !== null)("removes the agent's cgroup after cleanup, and records it", async () => {
    corral = open({});
    const task = unwrap(corral.createTask({ description: "removed" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "short", prompt: "p", command: ["sleep", "300"] }));
    const cgroup = localHandle(agent).cgroup as string;
    expect(cgroup.startsWith(corral.runners.cgroupParent as string)).toBe(true);
    // Its first instruction moves it in: deploy returns as soon as the process exists.
    await waitFor(() => readFileSync(join(cgroup, "cgroup.procs"), "utf8").split("\n").includes(String(agent.process?.pid)), "the agent to enter its cgroup");
    unwrap(await corral.kill(agent.id));
    expect(existsSync(cgroup)).toBe(false);
    expect(step(corral, agent.id, "verify")?.detail.cgroup).toEqual({ path: cgroup, removed: true, error: null });
  });

  it.skipIf(unusable !== null)("kills an adopted orphan through its cgroup", async () => {
    const crashed = await startCoordinator({ CORRAL_SUBREAPER: "none", CORRAL_CGROUPS: "on" });
    coordinators.push(crashed);
    const { task_id } = await crashed.call<{ task_id: string }>("create_real_task", { description: "orphan" });
    const pidFile = join(crashed.home, "escaper.pid");
    const { agent_id } = await crashed.call<{ agent_id: string }>("deploy_headless_agent", {
      task_id,
      agent_type: "orphan",
      prompt: "p",
      command: [agentScript("escaper.sh"), pidFile, "stay"],
      runner,
    });
    const escaper = await escaperOf(pidFile);
    process.kill(crashed.transport.pid!, "SIGKILL");
    while (readStat(crashed.transport.pid!) !== null) await sleep(10);

    corral = openCorralAt(crashed.home, { orphans: "terminate", subreaper: "none" });
    const report = await corral.reconcile();
    expect(report.terminated).toEqual([agent_id]);
    const record = corral.cleanupRecord(agent_id as AgentId);
    expect([record.status, record.verifiedBy]).toEqual(["done", "cgroup"]);
    expect(isAlive(escaper)).toBe(false);
    expect(existsSync(localHandle(corral.agent(agent_id as AgentId)!).cgroup as string)).toBe(false);
  });

  it.each([
    ["no tini", "exits on its own", "none"],
    ["no tini", "is killed", "none"],
    // tini exits with its child: what escaped its tree is then left to a sweep.
    ["tini", "exits on its own", "auto"],
  ] as const)("lists the blind spot in the receipt, rather than a clean certainty, with cgroups off and %s, when the agent %s", async (_tini, ending, subreaper) => {
    if (subreaper === "auto" && tini === null) return;
    corral = open({ cgroups: "off", subreaper });
    const { agent, escaper } = await deployEscaper(corral, ending === "is killed" ? "stay" : "exit");
    const done = ending === "is killed" ? unwrap(await corral.kill(agent.id)).agent : await corral.whenCleaned(agent.id);
    expect(done.cleanupStatus).toBe("done");
    const record = corral.cleanupRecord(agent.id);
    expect(record.verifiedBy).toBe("sweep");
    expect(record.blindSpots).toEqual([expect.stringContaining("setsid env -i")]);
    expect(step(corral, agent.id, "terminate")?.detail.blindSpots).toEqual(record.blindSpots);
    // The blind spot is real: the sweep did not see it.
    expect(isAlive(escaper)).toBe(true);
  });

  it.skipIf(tini === null)("catches the escaper through tini's tree on a kill with cgroups off, and claims no blind spot", async () => {
    corral = open({ cgroups: "off", subreaper: "auto" });
    const { agent, escaper } = await deployEscaper(corral, "stay");
    const killed = unwrap(await corral.kill(agent.id));
    expect([killed.cleanup.status, killed.cleanup.verifiedBy, killed.cleanup.blindSpots]).toEqual(["done", "tree", []]);
    expect(isAlive(escaper)).toBe(false);
  });

  it("continues a SIGSTOPped agent after SIGTERM, so that it exits through its handler", async () => {
    corral = open({ cgroups: unusable === null ? "on" : "off", subreaper: "none", graceMs: 30_000 });
    const task = unwrap(corral.createTask({ description: "stopped" }));
    const script = 'trap \'echo "handled TERM"; exit 0\' TERM; echo ready; while :; do sleep 0.05; done';
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "stopped", prompt: "p", command: ["bash", "-c", script] }));
    await waitFor(() => existsSync(agent.logPath) && readFileSync(agent.logPath, "utf8").includes("ready"), "the trap");
    const root = { pid: agent.process!.pid, startTime: agent.process!.startTime };
    process.kill(root.pid, "SIGSTOP");
    await waitFor(() => readStat(root.pid)?.state === "T", "the agent to stop");
    const killed = unwrap(await corral.kill(agent.id));
    const terminate = killed.cleanup.steps.find((s) => s.step === "terminate");
    expect(terminate?.detail.escalated).toBe(false);
    const signals = (terminate?.detail.signalled as { pid: number; signals: string[] }[]).find((p) => p.pid === root.pid)?.signals;
    expect(signals).toEqual(["SIGTERM", "SIGCONT"]);
    const archive = corral.agent(agent.id)?.archivePath as string;
    expect(gunzipSync(readFileSync(archive)).toString("utf8")).toContain("handled TERM");
  });
});

function openCorralAt(home: string, overrides: Partial<Config>): Corral {
  return openCorral({ home, ...overrides });
}

describe(`the cgroups setting${withCgroups}`, () => {
  it.skipIf(unusable !== null)("removes empty cgroups a crash left behind, when reconciling and in gc, and spares a live agent's", async () => {
    corral = openCorral({ cgroups: "on" });
    const task = unwrap(corral.createTask({ description: "stale" }));
    const live = unwrap(await corral.deploy({ taskId: task.id, agentType: "live", prompt: "p", command: ["sleep", "300"] }));
    const parent = corral.runners.cgroupParent as string;
    const stale = join(parent, "worker-000000-dead00");
    mkdirSync(stale);
    const report = await corral.reconcile();
    expect(report.cgroupsRemoved).toEqual([stale]);
    expect(existsSync(stale)).toBe(false);
    mkdirSync(stale);
    corral.gc();
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(localHandle(live).cgroup as string)).toBe(true);
  });

  it.skipIf(unusable !== null)("removes another state dir's parent cgroup left empty by a corral that never closed, and spares one in use", async () => {
    corral = openCorral({ cgroups: "on" });
    const task = unwrap(corral.createTask({ description: "in use" }));
    const live = unwrap(await corral.deploy({ taskId: task.id, agentType: "live", prompt: "p", command: ["sleep", "300"] }));
    const inUse = corral.runners.cgroupParent as string;
    // What a corral killed between making its state dir's parent and closing leaves behind.
    const abandoned = join(dirname(inUse), "0000deadbeef0000");
    mkdirSync(abandoned);
    const probe = Cgroups.open(join(tmpdir(), `corral-cgroup-probe-${process.pid}`));
    expect(probe.ok).toBe(true);
    expect(existsSync(abandoned)).toBe(false);
    expect(existsSync(localHandle(live).cgroup as string)).toBe(true);
  });

  it.skipIf(unusable !== null)("meters an agent's CPU through its cgroup, counting processes that already exited", async () => {
    corral = openCorral({ cgroups: "on" });
    const task = unwrap(corral.createTask({ description: "metered" }));
    const script = "(i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done); echo burnt; exec sleep 300";
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "busy", prompt: "p", command: ["bash", "-c", script] }));
    await waitFor(() => existsSync(agent.logPath) && readFileSync(agent.logPath, "utf8").includes("burnt"), "the busy child to finish");
    const [seen] = corral.stats().agents;
    expect(seen?.cgroup).toBe(localHandle(agent).cgroup);
    // The busy subshell is gone: only its cgroup still counts what it used.
    const perProcess = usageOf(cgroupMembers(localHandle(agent).cgroup as string)).reduce((sum, p) => sum + p.cpuSeconds, 0);
    expect(seen?.cpuSeconds).toBeGreaterThan(perProcess);
  });

  it.skipIf(unusable !== null)("refuses a memory cap that the hierarchy cannot enforce", () => {
    const probe = Cgroups.open(join(tmpdir(), `corral-cgroup-probe-${process.pid}`));
    if (probe.ok && probe.value.controllers.includes("memory")) return;
    expect(() => openCorral({ agentMemoryMb: 64 })).toThrow(/CGROUPS_UNAVAILABLE|memory controller/);
  });

  // Dropping to an unprivileged user takes root.
  it.skipIf(process.getuid?.() !== 0)("refuses to start with cgroups on where the hierarchy is not writable, naming why", async () => {
    // An unprivileged user with no delegated subtree: what cgroups=on must refuse. `stats` opens
    // the whole service (ps only reads the database, and runs no agent).
    const home = mkdtempSync(join(tmpdir(), "corral-nobody-"));
    chmodSync(home, 0o777);
    try {
      const result = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CORRAL_BIN, "stats"], {
        env: { ...process.env, CORRAL_HOME: join(home, "state"), CORRAL_CGROUPS: "on", HOME: home },
      }).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^corral: CGROUPS_UNAVAILABLE: cgroups is on, but /);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
