import type { Config } from "../domain/config.js";
import type { AgentId } from "../domain/ids.js";
import { anyLimit, limitReached, limitsOf, limitWarnings, type ProcessUsage } from "../domain/resource-limits.js";
import type { AgentRecord } from "../store/records.js";

export type ReapAction =
  | {
      readonly kind: "end";
      readonly id: AgentId;
      readonly status: "timed_out" | "killed";
      readonly reason: string;
      readonly why: "time" | "stuck" | "disk" | "limit";
    }
  | { readonly kind: "mark_stuck"; readonly id: AgentId; readonly since: number; readonly reason: string }
  | { readonly kind: "clear_stuck"; readonly id: AgentId }
  | { readonly kind: "limit_warnings"; readonly id: AgentId; readonly warnings: string[] };

/** What the reaper reads of the machine, passed in so the rules stay plain. */
export interface ReapProbe {
  modifiedAt(path: string): number;
  logBytes(path: string): number;
  usage(agent: AgentRecord): ProcessUsage[];
}

const MB = 1024 * 1024;

/** The wall-clock limit the agent was deployed with, if any: it replaces maxRuntimeMs. */
export function lifetimeOf(agent: Pick<AgentRecord, "spec">): number | null {
  const value = agent.spec.maxRuntimeMs;
  return typeof value === "number" && value > 0 ? value : null;
}

/**
 * The reaper's rules over the running agents a corral owns: past maxRuntimeMs an agent ends
 * timed_out; with no output and no report for stuckMs it is flagged stuck (or killed with
 * onStuck=terminate); a process past 80 % of a resource limit is a warning, and one at its
 * open-file or address-space limit gets the agent stopped; and while a
 * task's live logs are over taskDiskBudgetMb its agents with the largest logs are stopped.
 */
export function planReap(agents: readonly AgentRecord[], config: Config, now: number, probe: ReapProbe): ReapAction[] {
  const actions = planAgentRules(agents, config, now, probe);
  const ending = new Set(actions.flatMap((action) => (action.kind === "end" ? [action.id] : [])));
  const logs = agents
    .filter((a) => a.status === "running" && a.startedAt !== null && !ending.has(a.id))
    .map((agent) => ({ id: agent.id, taskId: agent.taskId, bytes: probe.logBytes(agent.logPath) }));
  return [...actions, ...planDiskBudget(logs, config)];
}

/** The rules each agent is judged by alone: its wall-clock limit, being stuck, its resource limits. */
export function planAgentRules(agents: readonly AgentRecord[], config: Config, now: number, probe: ReapProbe): ReapAction[] {
  const actions: ReapAction[] = [];
  const limits = limitsOf(config);
  const running = agents.filter((a) => a.status === "running" && a.startedAt !== null);
  for (const agent of running) {
    const startedAt = agent.startedAt as number;
    const ran = now - startedAt;
    const own = lifetimeOf(agent);
    const limit = own ?? config.maxRuntimeMs;
    if (limit > 0 && ran > limit) {
      const which = own === null ? `maxRuntimeMs=${config.maxRuntimeMs}` : `its max_runtime_s=${own / 1000}`;
      actions.push({ kind: "end", id: agent.id, status: "timed_out", reason: `ran ${Math.round(ran / 1000)} s, longer than ${which}`, why: "time" });
      continue;
    }
    const quiet = now - Math.max(startedAt, agent.lastEventAt ?? 0, probe.modifiedAt(agent.logPath));
    if (quiet > config.stuckMs) {
      const reason = `stuck: no output and no progress for ${Math.round(quiet / 1000)} s (stuckMs=${config.stuckMs})`;
      if (config.onStuck === "terminate") {
        actions.push({ kind: "end", id: agent.id, status: "killed", reason, why: "stuck" });
        continue;
      }
      if (agent.stuckSince === null) actions.push({ kind: "mark_stuck", id: agent.id, since: now - quiet, reason });
    } else if (agent.stuckSince !== null) {
      actions.push({ kind: "clear_stuck", id: agent.id });
    }
    if (anyLimit(limits)) {
      const usage = probe.usage(agent);
      const reached = limitReached(limits, usage);
      if (reached !== null) {
        actions.push({ kind: "end", id: agent.id, status: "killed", reason: reached, why: "limit" });
        continue;
      }
      const warnings = limitWarnings(limits, usage);
      if (warnings.join("\n") !== agent.limitWarnings.join("\n")) actions.push({ kind: "limit_warnings", id: agent.id, warnings });
    }
  }
  return actions;
}

/** A running agent's log, as the disk budget weighs it. */
export interface LogSize {
  readonly id: AgentId;
  readonly taskId: string;
  readonly bytes: number;
}

/** While a task's live logs are over taskDiskBudgetMb, its agents with the largest logs are stopped. */
export function planDiskBudget(logs: readonly LogSize[], config: Config): ReapAction[] {
  const actions: ReapAction[] = [];
  const budget = config.taskDiskBudgetMb * MB;
  const byTask = new Map<string, LogSize[]>();
  for (const log of logs) {
    const task = byTask.get(log.taskId) ?? [];
    task.push(log);
    byTask.set(log.taskId, task);
  }
  for (const task of byTask.values()) {
    let total = task.reduce((sum, l) => sum + l.bytes, 0);
    for (const { id, bytes } of [...task].sort((a, b) => b.bytes - a.bytes)) {
      if (total <= budget) break;
      const reason = `its task's logs passed taskDiskBudgetMb=${config.taskDiskBudgetMb} (this agent's log: ${(bytes / MB).toFixed(1)} MB)`;
      actions.push({ kind: "end", id, status: "killed", reason, why: "disk" });
      total -= bytes;
    }
  }
  return actions;
}

/**
 * When the reaper must look at a running agent again, judged by the rules above: at its
 * wall-clock limit, or stuckMs after its last sign of life, whichever comes first; at once (the
 * next round) while it is flagged stuck, so the flag lifts when it moves again, and while
 * resource limits are set, since only a look at its processes tells how near they are.
 */
export function nextLook(agent: AgentRecord, config: Config, now: number, probe: Pick<ReapProbe, "modifiedAt">): number {
  if (agent.stuckSince !== null || anyLimit(limitsOf(config)) || agent.startedAt === null) return now;
  const limit = lifetimeOf(agent) ?? config.maxRuntimeMs;
  const deadline = limit > 0 ? agent.startedAt + limit + 1 : Number.POSITIVE_INFINITY;
  const lastSign = Math.max(agent.startedAt, agent.lastEventAt ?? 0, probe.modifiedAt(agent.logPath));
  return Math.min(deadline, lastSign + config.stuckMs + 1);
}
