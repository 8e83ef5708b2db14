import { getEventListeners } from "node:events";
import { mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { RunnerKind } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { findRunnerTools, Runners } from "../src/runners/registry.js";
import type { AgentHandle, Placement, Runner } from "../src/runners/runner.js";
import { MIGRATIONS } from "../src/store/migrations.js";
import { Store } from "../src/store/store.js";
import { isAlive } from "../src/supervisor/identity.js";
import { exited } from "./helpers/builders.js";

const opened: Runners[] = [];
const stopAfter: { runner: Runner; handle: AgentHandle }[] = [];
afterEach(async () => {
  for (const { runner, handle } of stopAfter.splice(0)) {
    await runner.stop(handle, { graceMs: 500 });
    runner.verifyGone(handle, null);
    await runner.release(handle);
  }
  for (const runners of opened.splice(0)) runners.close();
});

/** The runners one corral process would open on a fresh state dir. */
function openRunners(home = mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "state-"))): { runners: Runners; home: string } {
  const config = unwrap(loadConfig({ ...process.env, CORRAL_HOME: home }));
  const runners = unwrap(Runners.open(config, unwrap(findRunnerTools(config))));
  opened.push(runners);
  return { runners, home };
}

let count = 0;
function placement(home: string): Placement {
  count += 1;
  const agentDir = join(home, "agents", `agent-${count}`);
  mkdirSync(agentDir, { recursive: true });
  return { name: `agent-${count}`, agentDir, mark: { name: "CORRAL_MARK", value: `runners-test-${process.pid}-${count}` } };
}

/** Places and starts `argv` on `runner`; the handle is stopped after the test whatever happens. */
async function start(runner: Runner, home: string, argv: string[]) {
  const placed = placement(home);
  const handle = unwrap(runner.place(placed));
  stopAfter.push({ runner, handle });
  const logPath = join(placed.agentDir, "log");
  const started = unwrap(await runner.start(handle, { plan: { argv, env: {}, cwd: home, stdinPath: null }, logPath }));
  stopAfter.push({ runner, handle: started.handle });
  return { ...started, logPath, placed };
}

/** The handle as the store keeps it: JSON text, parsed back in another process. */
const stored = (handle: AgentHandle): unknown => JSON.parse(JSON.stringify(handle));

describe.each(["process", "tmux"] as const)("the %s runner's handle", (kind: RunnerKind) => {
  it("is a JSON value from which the runners of a later corral process find, stop and verify the agent", async () => {
    const first = openRunners();
    const started = await start(first.runners.get(kind), first.home, ["sleep", "300"]);

    const later = openRunners(first.home).runners.get(kind);
    const handle = unwrap(later.readHandle(stored(started.handle)));
    expect(later.running(handle)).toBe(true);
    expect(later.stats(handle).processes.map((p) => p.pid)).toContain(started.root.pid);

    const report = await later.stop(handle, { graceMs: 2000 });
    expect(report.signalled.length).toBeGreaterThan(0);
    expect(report.survivors).toEqual([]);
    const gone = later.verifyGone(handle, report);
    expect(gone.survivors).toEqual([]);
    expect(gone.blindSpots).toEqual(report.blindSpots);
    expect(isAlive(started.root)).toBe(false);
    expect(later.running(handle)).toBe(false);
  });

  it("tells a later corral process whether the agent is still there, and when it ends", async () => {
    const first = openRunners();
    const started = await start(first.runners.get(kind), first.home, ["sleep", "300"]);
    const later = openRunners(first.home).runners.get(kind);
    const handle = unwrap(later.readHandle(stored(started.handle)));
    const watching = new AbortController();

    const recovered = later.recover(handle, watching.signal);
    expect(recovered.running).toBe(true);
    let ended = false;
    if (recovered.running) void recovered.ended.then(() => (ended = true));
    await sleep(300);
    expect(ended).toBe(false);
    await later.stop(handle, { graceMs: 2000 });
    if (recovered.running) await recovered.ended;
    // A corral watches adopted agents for as long as it runs: an ended one leaves it nothing.
    expect(getEventListeners(watching.signal, "abort")).toHaveLength(0);
    expect(later.recover(handle, watching.signal)).toEqual({ running: false });
    watching.abort();
  });

  it("refuses what is not one of its handles, saying why", async () => {
    const { runners, home } = openRunners();
    const other = runners.get(kind === "process" ? "tmux" : "process");
    const theirs = unwrap(other.place(placement(home)));
    stopAfter.push({ runner: other, handle: theirs });
    const refused = runners.get(kind).readHandle(stored(theirs));
    expect(refused.ok ? null : refused.error.code).toBe("DB_CORRUPT");
    expect(runners.get(kind).readHandle({ runner: kind }).ok).toBe(false);
  });

  it("before its start, names the agent by its mark, so a stop finds whatever of it did start", async () => {
    const { runners, home } = openRunners();
    const runner = runners.get(kind);
    const placed = placement(home);
    const handle = unwrap(runner.place(placed));
    stopAfter.push({ runner, handle });
    expect(runner.running(handle)).toBe(false);
    const report = await runner.stop(handle, { graceMs: 100 });
    expect([report.signalled, report.survivors]).toEqual([[], []]);
  });
});

describe("what each runner declares it can do", () => {
  it("only tmux attaches a terminal and keeps an adopted agent's exit status", () => {
    const { runners } = openRunners();
    const declared = (kind: RunnerKind) => {
      const { attach, exitStatusAfterAdoption } = runners.get(kind).capabilities;
      return { attach, exitStatusAfterAdoption };
    };
    expect(declared("process")).toEqual({ attach: false, exitStatusAfterAdoption: false });
    expect(declared("tmux")).toEqual({ attach: true, exitStatusAfterAdoption: true });
  });

  it("an agent's exit status reaches a later corral process through tmux's record, and is lost with a plain process's parent", async () => {
    const first = openRunners();
    const tmuxAgent = await start(first.runners.get("tmux"), first.home, ["sh", "-c", "exit 7"]);
    const plain = await start(first.runners.get("process"), first.home, ["sh", "-c", "exit 7"]);
    expect(await tmuxAgent.exited).toEqual(exited(7));
    expect(await plain.exited).toEqual(exited(7));

    const later = openRunners(first.home).runners;
    const tmux = later.get("tmux");
    const process = later.get("process");
    expect(await tmux.wait(unwrap(tmux.readHandle(stored(tmuxAgent.handle))))).toEqual(exited(7));
    expect(await process.wait(unwrap(process.readHandle(stored(plain.handle))))).toBeNull();
  });

  it("a plain process refuses to attach, saying how to follow the agent instead", async () => {
    const { runners, home } = openRunners();
    const runner = runners.get("process");
    const handle = unwrap(runner.place(placement(home)));
    stopAfter.push({ runner, handle });
    const refused = runner.attach(handle);
    expect(refused.ok ? null : refused.error).toEqual({
      code: "NOT_ATTACHABLE",
      message: `agent-${count} runs as a plain process, not in tmux: follow it with corral logs -f agent-${count}, or deploy with runner tmux`,
    });
  });
});

describe("starting in tmux", () => {
  it("leaves the event loop free while the pane starts the agent", async () => {
    const { runners, home } = openRunners();
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 1);
    try {
      const started = await start(runners.get("tmux"), home, ["sh", "-c", "echo started"]);
      expect(ticks).toBeGreaterThan(0);
      expect(await started.exited).toEqual(exited(0));
    } finally {
      clearInterval(ticker);
    }
  });

});

describe("agents recorded before handles", () => {
  it("get a handle made of the columns it replaces, which their runner reads back and finds them by", async () => {
    const { runners, home } = openRunners();
    const live = await start(runners.get("process"), home, ["sleep", "300"]);
    const path = join(home, "old.db");
    const old = new Database(path);
    // The database as it was before the migration that made handles.
    const handles = MIGRATIONS.findIndex((sql) => sql.includes("ADD COLUMN handle"));
    for (const [version, sql] of MIGRATIONS.slice(0, handles).entries()) {
      old.exec(sql);
      old.pragma(`user_version = ${version + 1}`);
    }
    old.exec(`INSERT INTO tasks (id, description, priority, context, workspace, created_at) VALUES ('TASK-20260101-000000-00000001', 'd', 'normal', '{}', '${home}', 1)`);
    const insert = old.prepare(
      `INSERT INTO agents (id, task_id, type, depth, status, backend, runner, prompt, spec, cwd, agent_dir, log_path, mark, owner_pid, owner_start, pid, proc_start, pgid, sid, subreaper, cgroup, created_at)
       VALUES (?, 'TASK-20260101-000000-00000001', 'w', 0, 'running', 'command', ?, 'p', '{}', '/', ?, '/l', ?, 1, '1', ?, ?, ?, ?, ?, NULL, 1)`,
    );
    const { root } = live;
    // It leads its own session, as every agent's root does.
    insert.run("w-000000-000001", "process", "/a/w-000000-000001", live.placed.mark.value, root.pid, root.startTime, root.pid, root.pid, 0);
    insert.run("w-000000-000002", "tmux", "/a/w-000000-000002", "m2", null, null, null, null, 0);
    old.close();

    const store = unwrap(Store.open(path));
    try {
      const [plain, placed] = ["w-000000-000001", "w-000000-000002"].map((id) => store.agents.get(id as AgentId));
      const process = runners.get("process");
      const plainHandle = unwrap(process.readHandle(plain!.handle));
      expect(process.running(plainHandle)).toBe(true);
      expect(process.stats(plainHandle).processes.map((p) => p.pid)).toContain(root.pid);
      expect(placed!.handle).toEqual({ runner: "tmux", name: "w-000000-000002", mark: "CORRAL_MARK=m2", cgroup: null, root: null, statusFile: "/a/w-000000-000002/tmux-exit-status" });
      expect(runners.get("tmux").readHandle(placed!.handle).ok).toBe(true);
    } finally {
      store.close();
    }
  });
});
