import { statfsSync } from "node:fs";
import { transcriptFilesOf } from "../backends/backend.js";
import type { RunnerKind } from "../domain/config.js";
import { describeUnknown } from "../domain/errors.js";
import { sameProcess } from "../runners/host.js";
import type { AgentId, TaskId } from "../domain/ids.js";
import { cleanupHealth } from "./cleanup-health.js";
import type { Core } from "./core.js";
import { planDiskFloor } from "./disk-floor.js";
import type { Endings } from "./endings.js";
import { modifiedAt, statOrNull } from "./file-stat.js";
import { collectGarbage, type GcReport } from "./gc.js";
import { nextLook, planAgentRules, planDiskBudget, type ReapProbe } from "./reaper.js";
import { ReapSchedule } from "./reap-schedule.js";
import type { CleanupHealthView } from "./views.js";

/** How often the free space under the state dir is checked against diskReserveMb. */
const DISK_CHECK_MS = 1000;

export interface CorralStats {
  readonly agents: {
    agentId: AgentId;
    taskId: TaskId;
    processes: number;
    residentMb: number;
    cpuSeconds: number;
    openFiles: number;
    logBytes: number;
    /** The agent's own cgroup, which then meters its CPU (and memory, where that controller is enabled). */
    cgroup: string | null;
    /** What the runner keeps for the agent besides its own processes (tmux: server, keeper, log pipe). */
    runner: { kind: RunnerKind; processes: number; residentMb: number };
  }[];
  readonly disk: GcReport["usage"];
  readonly cleanupHealth: CleanupHealthView;
}

export interface ReapReport {
  readonly timedOut: AgentId[];
  readonly stuck: AgentId[];
  readonly overDiskBudget: AgentId[];
  readonly atLimit: AgentId[];
  readonly warned: AgentId[];
}

/**
 * What keeps a state dir healthy while agents run: the reaper's rules, the disk reserve, gc,
 * and the figures of what it all uses.
 */
export class Upkeep {
  private diskTimer: NodeJS.Timeout | null = null;
  /** Each running agent's log size at the last disk check. */
  private readonly logSizes = new Map<AgentId, number>();
  /** The running agents this process owns, and when the reaper looks at each again. */
  private readonly schedule = new ReapSchedule();

  constructor(
    private readonly core: Core,
    private readonly endings: Endings,
  ) {}

  /**
   * Applies the reaper's rules (see planAgentRules) to the running agents this process owns
   * that are due (see ReapSchedule), and the disk budget to them all, and returns the agents
   * it acted on. An agent not due is not read: a round costs what is due and one stat of each
   * log, however many agents run.
   */
  async reap(now = Date.now()): Promise<ReapReport> {
    const { core } = this;
    const { store, config } = core;
    const acted = { timedOut: [] as AgentId[], stuck: [] as AgentId[], overDiskBudget: [] as AgentId[], atLimit: [] as AgentId[], warned: [] as AgentId[] };
    // A locked database would make each of its writes wait: the reaper waits for the next round.
    if (core.closed || !store.writableNow()) return acted;
    const probe: ReapProbe = {
      modifiedAt,
      logBytes: (path) => statOrNull(path)?.size ?? 0,
      usage: (agent) => {
        if (agent.process === null) return [];
        const { runner, handle } = core.handleOf(agent);
        return runner.stats(handle).processes;
      },
    };
    const { schedule } = this;
    schedule.sync(store.changeMark(), () => store.ownership.runningOwnedBy(core.owner));
    const due = schedule.due(now).flatMap((id) => {
      const agent = store.agents.get(id);
      if (agent?.status === "running" && sameProcess(agent.owner, core.owner)) return [agent];
      schedule.drop(id);
      return [];
    });
    const actions = planAgentRules(due, config, now, probe);
    const ending = new Set(actions.flatMap((action) => (action.kind === "end" ? [action.id] : [])));
    const logs = [...schedule.all()].filter((m) => !ending.has(m.id)).map((m) => ({ id: m.id, taskId: m.taskId, bytes: probe.logBytes(m.logPath) }));
    actions.push(...planDiskBudget(logs, config));
    for (const agent of due) schedule.later(agent.id, nextLook(agent, config, now, probe));
    const endings: Promise<unknown>[] = [];
    for (const action of actions) {
      switch (action.kind) {
        case "end":
          schedule.drop(action.id);
          if (action.why === "time") acted.timedOut.push(action.id);
          else if (action.why === "stuck") acted.stuck.push(action.id);
          else if (action.why === "limit") acted.atLimit.push(action.id);
          else acted.overDiskBudget.push(action.id);
          endings.push(this.endings.end(action.id, { status: action.status, reason: action.reason, exit: null }));
          break;
        case "mark_stuck":
          acted.stuck.push(action.id);
          schedule.later(action.id, now);
          if (store.flags.markStuck(action.id, action.since)) core.logger.warn({ agent: action.id }, action.reason);
          break;
        case "clear_stuck":
          store.flags.clearStuck(action.id);
          break;
        case "limit_warnings":
          if (action.warnings.length > 0) acted.warned.push(action.id);
          store.flags.setLimitWarnings(action.id, action.warnings);
          for (const warning of action.warnings) core.logger.warn({ agent: action.id }, warning);
          break;
      }
    }
    await Promise.all(endings);
    return acted;
  }

  /**
   * Every corral that launches agents watches the disk under them, watching or not: a flood
   * fills a disk in seconds, far sooner than a reap.
   */
  watchDisk(): void {
    this.diskTimer ??= setInterval(() => this.core.inBackground("checking the disk reserve", () => this.checkDiskFloor()), DISK_CHECK_MS);
    this.diskTimer.unref();
  }

  /**
   * Below diskReserveMb of free space, stops the agent (of those this process owns) whose log
   * grew most since the last check, so that agents' output cannot eat the space corral needs
   * to record their ends. Returns the agent it stopped, if any.
   */
  async checkDiskFloor(): Promise<AgentId | null> {
    const { core } = this;
    if (core.closed || core.config.diskReserveMb === 0) return null;
    const stats = statfsSync(core.config.home);
    const free = stats.bavail * stats.bsize;
    const reserve = core.config.diskReserveMb * 1024 * 1024;
    // Well above the reserve nothing is measured: a check costs one statfs. Closer, each log's
    // growth is followed, so that it is known by the time the reserve is reached.
    if (free >= 2 * reserve) {
      this.logSizes.clear();
      return null;
    }
    const running = core.store.ownership.liveOwnedBy(core.owner).filter((agent) => agent.status === "running");
    const logs = running.map((agent) => {
      const bytes = statOrNull(agent.logPath)?.size ?? 0;
      const grew = bytes - (this.logSizes.get(agent.id) ?? 0);
      this.logSizes.set(agent.id, bytes);
      return { id: agent.id, grew, bytes };
    });
    for (const id of this.logSizes.keys()) if (!logs.some((log) => log.id === id)) this.logSizes.delete(id);
    const top = planDiskFloor(logs, free, reserve);
    if (top === null) return null;
    const reason =
      `the disk under the state dir fell to ${(free / 1024 / 1024).toFixed(1)} MB free, below diskReserveMb=${core.config.diskReserveMb}, ` +
      `while its log grew fastest (${(top.grew / 1024 / 1024).toFixed(1)} MB in the last check, ${(top.bytes / 1024 / 1024).toFixed(1)} MB in all): stopped so that corral can still record`;
    core.logger.warn({ agent: top.id, free }, "disk reserve reached: stopping the fastest-growing log");
    await this.endings.end(top.id, { status: "killed", reason, exit: null });
    return top.id;
  }

  /** gc as a background round, and the ballast made again when there is room. */
  gcInBackground(): void {
    const { core } = this;
    // gc records what it deleted: with the database locked it waits for its next round.
    if (core.closed || !core.store.writableNow()) return;
    try {
      this.gc();
      core.ballast.ensure();
    } catch (cause) {
      core.logger.warn({ err: describeUnknown(cause) }, "gc failed; it runs again later");
    }
  }

  /** Retention, disk budgets and stale temp files; see collectGarbage. */
  gc(dryRun = false): GcReport {
    const { core } = this;
    const report = collectGarbage(core.store, core.workspaces, core.config, dryRun, (path) => transcriptFilesOf(core.backends.values(), path));
    const cgroups = dryRun ? [] : core.removeStaleCgroups();
    if (cgroups.length > 0) core.logger.info({ cgroups }, "gc removed stale cgroups");
    if (!dryRun && (report.archivesDeleted.length > 0 || report.tempRemoved.length > 0 || report.transcriptsDeleted.length > 0)) {
      const counts = { archives: report.archivesDeleted.length, transcripts: report.transcriptsDeleted.length, temp: report.tempRemoved.length };
      core.logger.info({ ...counts, bytes: report.bytesFreed }, "gc");
    }
    return report;
  }

  /** What this state dir holds right now: each running agent's processes and log, disk per task, cleanup health. */
  stats(): CorralStats {
    const { core } = this;
    const agents = core.store.agents.live().flatMap((agent) => {
      if (agent.status !== "running" || agent.process === null) return [];
      const { runner, handle } = core.handleOf(agent);
      // The agent's meter (its cgroup) counts the CPU of processes that already exited too, and
      // memory where metered.
      const { processes: usage, metered, companions: kept } = runner.stats(handle);
      return [
        {
          agentId: agent.id,
          taskId: agent.taskId,
          processes: usage.length,
          residentMb: metered?.memoryMb ?? usage.reduce((sum, p) => sum + p.residentMb, 0),
          cpuSeconds: metered?.cpuSeconds ?? usage.reduce((sum, p) => sum + p.cpuSeconds, 0),
          cgroup: metered?.path ?? null,
          openFiles: usage.reduce((sum, p) => sum + p.openFiles, 0),
          logBytes: statOrNull(agent.logPath)?.size ?? 0,
          runner: { kind: agent.runner, processes: kept.length, residentMb: kept.reduce((sum, p) => sum + p.residentMb, 0) },
        },
      ];
    });
    return { agents, disk: this.gc(true).usage, cleanupHealth: cleanupHealth(core.store) };
  }

  /** Stops the disk watch (this corral closes). */
  stop(): void {
    if (this.diskTimer !== null) clearInterval(this.diskTimer);
    this.diskTimer = null;
  }
}
