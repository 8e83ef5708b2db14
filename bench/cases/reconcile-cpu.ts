import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId, TaskId } from "../../src/domain/ids.js";
import type { Limits } from "../../src/domain/limits.js";
import { readStat } from "../../src/supervisor/procfs.js";
import { agentRow } from "../../test/helpers/builders.js";
import { withStore } from "../../test/helpers/store.js";
import { MANY } from "../agents.js";
import { round, summarize, type Bench } from "../harness.js";

const LIVE_ROWS = 10_000;
/** Agents of a dead corral that ended long ago: history, which must cost nothing either. */
const ENDED_ROWS = 10_000;
const SPAN_MS = 30_000;
const SAMPLES = 5;
const GOAL = 0.2;

/**
 * What reconcile and the reaper cost a watching corral while nothing happens, at 10,000 live
 * agents: half owned by the corral under test, half by another live corral (a process that
 * stands in for one), and 10,000 ended agents of a dead corral beside them. The rounds a
 * corral runs in 30 s at the default cadence (reconcileMs, reapMs) are run back to back and
 * their CPU time (process.cpuUsage) summed; the figure is the median of SAMPLES such spans.
 */
export async function benchReconcileCpu(bench: Bench): Promise<void> {
  const other = spawn("sleep", ["600"], { stdio: "ignore" });
  try {
    const stat = readStat(other.pid as number);
    if (stat === null) throw new Error("the stand-in corral did not start");
    const data = await bench.withCorral(MANY, async (corral) => {
      const task = unwrap(corral.createTask({ description: "bench reconcile" }));
      const stand = { pid: stat.pid, startTime: stat.startTime };
      const dead = { pid: 999_999, startTime: "1" };
      plant(corral.config.home, task, corral.owner, stand, dead, corral.config);
      const reconciles = Math.round(SPAN_MS / corral.config.reconcileMs);
      const reaps = Math.round(SPAN_MS / corral.config.reapMs);
      // The first rounds find what is there; what they cost is a one-time cost.
      await corral.reconcile();
      await corral.reap();
      const spans: { reconcile: number; reap: number; total: number }[] = [];
      for (let s = 0; s < SAMPLES; s += 1) {
        const reconcile = await cpuOf(reconciles, () => corral.reconcile());
        const reap = await cpuOf(reaps, () => corral.reap());
        spans.push({ reconcile: round(reconcile, 4), reap: round(reap, 4), total: round(reconcile + reap, 4) });
        await sleep(10);
      }
      const median = (pick: (span: (typeof spans)[number]) => number): number => summarize(spans.map(pick)).median;
      return { reconciles, reaps, spans, median: median((s) => s.total), reconcile: median((s) => s.reconcile), reap: median((s) => s.reap) };
    });
    bench.record(
      `reconcile + reaper at ${LIVE_ROWS.toLocaleString("en")} live agents, CPU-seconds per 30 s`,
      `${round(data.median, 3)} CPU-s: ${data.reconciles} reconciles ${round(data.reconcile, 3)} + ${data.reaps} reaps ${round(data.reap, 3)} (median of ${SAMPLES})`,
      `≤ ${GOAL}`,
      data.median <= GOAL,
      data,
    );
  } finally {
    other.kill("SIGKILL");
  }
}

function plant(
  home: string,
  task: { id: TaskId; workspace: string },
  own: { pid: number; startTime: string },
  live: { pid: number; startTime: string },
  dead: { pid: number; startTime: string },
  limits: Limits,
): void {
  const id = (i: number): AgentId => `bench-000000-${i.toString(16).padStart(6, "0")}` as AgentId;
  withStore(home, (store) => {
    for (let i = 0; i < LIVE_ROWS + ENDED_ROWS; i += 1) {
      const owner = i >= LIVE_ROWS ? dead : i % 2 === 0 ? own : live;
      unwrap(store.agents.insert(agentRow(task, owner, { id: id(i), cwd: "/" }), limits));
    }
  });
  // Live rows run a process of their own (the stand-in's): nothing reads it unless a rule is due.
  const db = new Database(join(home, "corral.db"));
  const now = Date.now();
  const running = db.prepare(
    "UPDATE agents SET status = 'running', pid = ?, proc_start = ?, started_at = ?, handle = ? WHERE id = ?",
  );
  const ended = db.prepare(
    "UPDATE agents SET status = 'completed', cleanup_status = 'done', slot_held = 0, started_at = ?, ended_at = ?, cleaned_at = ? WHERE id = ?",
  );
  db.transaction(() => {
    for (let i = 0; i < LIVE_ROWS + ENDED_ROWS; i += 1) {
      if (i < LIVE_ROWS) {
        const handle = JSON.stringify({ runner: "process", name: id(i), mark: "CORRAL_MARK=none", cgroup: null, root: { pid: live.pid, startTime: live.startTime, sid: live.pid, subreaper: false } });
        running.run(live.pid, live.startTime, now, handle, id(i));
      } else {
        ended.run(now - 86_400_000, now - 86_400_000, now - 86_400_000, id(i));
      }
    }
  })();
  db.prepare("UPDATE tasks SET active_count = ? WHERE id = ?").run(LIVE_ROWS, task.id);
  db.close();
}

/** CPU-seconds (user + system) that `count` rounds of `round` take, one after another. */
async function cpuOf(count: number, round: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < count; i += 1) await round();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}
