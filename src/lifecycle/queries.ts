import { setTimeout as sleep } from "node:timers/promises";
import { isTerminal } from "../domain/agent-state.js";
import { MAX_PAGE, MAX_WAIT_IDS } from "../domain/bounds.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentId, TaskId } from "../domain/ids.js";
import { parseAgentId } from "./inputs.js";
import type { AgentRecord, AgentSummary, TaskRecord } from "../store/records.js";
import { parseOutputQuery, readAgentOutput, type AgentOutputView, type OutputQuery } from "./agent-output.js";
import { cleanupHealth } from "./cleanup-health.js";
import type { Core } from "./core.js";
import { findAgent, findTask } from "./lookup.js";
import { pageView, parsePage, whole, type PageQuery } from "./paging.js";
import type { TimelineView } from "./reply-views.js";
import { agentView, eventView, taskStatus, taskSummary } from "./task-status.js";
import type { AgentView, CleanupHealthView, DatabaseView, EventView, PageView, TaskStatusView, TaskSummaryView } from "./views.js";

const WAIT_POLL_MS = 100;

export interface WaitOutcome {
  readonly satisfied: boolean;
  readonly total: number;
  readonly ended: number;
  /** Those that ended first, then the others; all of them unless the caller capped the list. */
  readonly agents: AgentView[];
  readonly truncated?: true;
}

/** What a caller reads: tasks, agents, their status, output and timeline; nothing here writes. */
export class Queries {
  constructor(private readonly core: Core) {}

  /**
   * A task's counts, totals and agents needing attention, one page of its agents and their
   * hierarchy, latest progress and findings, and limits in use. Without a page query, every
   * agent: for callers in this process, which have no reply to fit.
   */
  status(rawTaskId: string, rawPage?: PageQuery): Result<TaskStatusView> {
    const usable = this.core.usable();
    if (!usable.ok) return usable;
    const task = findTask(this.core.store, rawTaskId);
    if (!task.ok) return task;
    const list = `status:${task.value.id}`;
    const page = rawPage === undefined ? ok(whole(list)) : parsePage(rawPage, list);
    if (!page.ok) return page;
    return ok({ ...taskStatus(this.core.store, this.core.config, task.value, page.value), database: this.database() });
  }

  /** Whether the database takes writes now (asked without waiting), who holds its lock, what waits for it. */
  database(): DatabaseView {
    const { store } = this.core;
    const writable = store.writableNow();
    const pendingEnds = this.pendingCount();
    if (!writable) {
      return { writable, lockedBy: store.lockHolders(), pendingEnds, note: store.lockedError().message };
    }
    const note = pendingEnds === 0 ? null : `${pendingEnds} agents' ends wait in corral's journal and are recorded at the next retry`;
    return { writable, lockedBy: [], pendingEnds, note };
  }

  /** How many ends wait in the journal for the database. */
  pendingCount(): number {
    return this.core.pending.list().length;
  }

  /** A task's newest `limit` events, oldest first, and how many it has in all. */
  timeline(rawTaskId: string, limit: number = MAX_PAGE): Result<TimelineView> {
    const usable = this.core.usable();
    if (!usable.ok) return usable;
    const task = findTask(this.core.store, rawTaskId);
    if (!task.ok) return task;
    return ok({ total: task.value.eventCount, events: this.core.store.events.newestForTask(task.value.id, limit).map(eventView) });
  }

  /** Every agent of every task, or only the ones not yet ended. */
  agents(all: boolean): AgentView[] {
    return this.core.store.summaries.all(!all).map(agentView);
  }

  listTasks(): TaskSummaryView[] {
    return this.core.store.tasks.list().map(taskSummary);
  }

  /** One page of the tasks, newest first. */
  taskPage(rawPage: PageQuery): Result<{ page: PageView; tasks: TaskSummaryView[] }> {
    const usable = this.core.usable();
    if (!usable.ok) return usable;
    const page = parsePage(rawPage, "tasks");
    if (!page.ok) return page;
    const { tasks } = this.core.store;
    const rows = tasks.page(page.value.after, page.value.limit);
    return ok({ page: pageView(page.value, rows, tasks.count()), tasks: rows.map(taskSummary) });
  }

  /** An agent's output from its live log or its archive, shaped by the query. */
  async output(rawTaskId: string, rawAgentId: string, rawQuery: OutputQuery): Promise<Result<AgentOutputView>> {
    const usable = this.core.usable();
    if (!usable.ok) return usable;
    const query = parseOutputQuery(rawQuery);
    if (!query.ok) return query;
    const agent = findAgent(this.core.store, rawTaskId, rawAgentId);
    if (!agent.ok) return agent;
    return ok(await readAgentOutput(agent.value, query.value, this.core.parserOf(agent.value)));
  }

  /**
   * Waits until any or all of the agents (default: every agent of the task) have ended, or
   * the timeout passes; `onTick` is called on every poll with how many have ended. The reply
   * shows at most `shown` agents, those that ended first.
   */
  async waitForAgents(
    rawTaskId: string,
    rawAgentIds: readonly string[] | undefined,
    mode: "any" | "all",
    timeoutMs: number,
    onTick: (ended: number, total: number) => void | Promise<void> = () => undefined,
    shown = Number.MAX_SAFE_INTEGER,
  ): Promise<Result<WaitOutcome>> {
    const { store } = this.core;
    const usable = this.core.usable();
    if (!usable.ok) return usable;
    const task = findTask(store, rawTaskId);
    if (!task.ok) return task;
    if (rawAgentIds !== undefined && rawAgentIds.length > MAX_WAIT_IDS) {
      return fail("INVALID_INPUT", `${rawAgentIds.length} ids, over the limit of ${MAX_WAIT_IDS}; wait on fewer, or leave agent_ids out to wait on the whole task`, "agent_ids");
    }
    // Each id is read on every poll: a list repeating ids would multiply that work for nothing.
    const ids: AgentId[] = [];
    for (const raw of new Set(rawAgentIds ?? store.agents.forTask(task.value.id).map((a) => a.id))) {
      const agent = findAgent(store, rawTaskId, raw, "agent_ids");
      if (!agent.ok) return agent;
      ids.push(agent.value.id);
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const agents = ids.map((id) => store.summaries.get(id) as AgentSummary);
      const ended = agents.filter((a) => isTerminal(a.status)).length;
      await onTick(ended, agents.length);
      const satisfied = mode === "any" ? ended > 0 || agents.length === 0 : ended === agents.length;
      if (satisfied || Date.now() >= deadline) {
        const endedFirst = [...agents.filter((a) => isTerminal(a.status)), ...agents.filter((a) => !isTerminal(a.status))];
        return ok({
          satisfied,
          total: agents.length,
          ended,
          agents: endedFirst.slice(0, shown).map(agentView),
          ...(agents.length > shown ? { truncated: true } : {}),
        });
      }
      await sleep(Math.min(WAIT_POLL_MS, Math.max(1, deadline - Date.now())));
    }
  }

  /** The argv that attaches a terminal to the agent live (its tmux session, read-only). */
  attachCommand(rawId: string): Result<readonly string[]> {
    const id = parseAgentId(rawId);
    const agent = id.ok ? this.core.store.agents.get(id.value) : null;
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`, "agent_id");
    const { runner, handle } = this.core.handleOf(agent);
    // A runner that cannot attach says why, and how to follow the agent instead.
    if (!runner.capabilities.attach) return runner.attach(handle);
    if (isTerminal(agent.status)) {
      return fail("NOT_ATTACHABLE", `${agent.id} has ended (${agent.status}) and its session is closed: read its output with corral logs ${agent.id}`);
    }
    return runner.attach(handle);
  }

  /** The agent a caller names within the task it names. */
  agentInTask(rawTaskId: string, rawAgentId: string): Result<AgentRecord> {
    return findAgent(this.core.store, rawTaskId, rawAgentId);
  }

  cleanupHealth(): CleanupHealthView {
    return cleanupHealth(this.core.store);
  }

  task(id: TaskId): TaskRecord | null {
    return this.core.store.tasks.get(id);
  }

  agent(id: AgentId): AgentRecord | null {
    return this.core.store.agents.get(id);
  }
}
