import type { Config } from "../domain/config.js";
import { AGENT_STATUSES } from "../domain/agent-state.js";
import type { AgentRecord, AgentSummary, CleanupStepRecord, EventRecord, TaskRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import { cleanupHealth } from "./cleanup-health.js";
import type { SummaryTally } from "../store/summaries.js";
import type { AgentView, AttentionView, CleanupRecordView, EventView, HierarchyNode, TaskStatusView, TaskSummaryView, TotalsView } from "./views.js";

import { MAX_ATTENTION } from "../domain/bounds.js";
import { DISCOVERY_METHODS } from "../runners/runner.js";
import { pageView, type Page } from "./paging.js";

const LATEST_PROGRESS = 10;
const LATEST_FINDINGS = 20;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function agentView(agent: AgentSummary): AgentView {
  return {
    agentId: agent.id,
    taskId: agent.taskId,
    type: agent.type,
    backend: agent.backend,
    runner: agent.runner,
    status: agent.status,
    reason: agent.reason,
    parent: agent.parentId,
    depth: agent.depth,
    progress: agent.progress,
    latestMessage: agent.lastMessage,
    events: agent.eventCount,
    pid: agent.pid,
    exit: agent.exit,
    cleanup: agent.cleanupStatus,
    createdAt: new Date(agent.createdAt).toISOString(),
    startedAt: iso(agent.startedAt),
    endedAt: iso(agent.endedAt),
    claimedDone: agent.claimedDone,
    sessionId: agent.stream.sessionId,
    model: agent.stream.model,
    corralConnected: agent.stream.corralConnected,
    costUsd: agent.stream.costUsd,
    inputTokens: agent.stream.inputTokens,
    outputTokens: agent.stream.outputTokens,
    numTurns: agent.stream.numTurns,
    toolCalls: agent.stream.toolCalls,
    flags: flagsOf(agent),
    validation:
      agent.validation === null
        ? null
        : { confidence: agent.validation.confidence, score: agent.validation.score, warnings: [...agent.validation.warnings] },
  };
}

function flagsOf(agent: AgentSummary): string[] {
  const flags: string[] = [];
  if (agent.stream.corralConnected === false) flags.push("corral's MCP server did not connect: this agent cannot report");
  if (agent.stream.denials > 0) flags.push(`${agent.stream.denials} tool uses were denied permission`);
  if (agent.stream.errors > 0) flags.push(`${agent.stream.errors} lines of its output stream could not be read`);
  if (agent.cleanupStatus === "partial") flags.push("its cleanup is partial: a step failed and will be retried");
  if (agent.status === "running") flags.push(...agent.limitWarnings);
  if (agent.stuckSince !== null && (agent.status === "running" || agent.status === "pending")) {
    flags.push(`no output and no progress since ${new Date(agent.stuckSince).toISOString()}: it may be stuck`);
  }
  return flags;
}

export function eventView(event: EventRecord): EventView {
  // The data was checked when it was written: a report by EventInputSchema, a stream event by its parser.
  return { id: event.id, agentId: event.agentId, kind: event.kind, at: new Date(event.at).toISOString(), data: event.data as EventView["data"] };
}

/**
 * A task's context as published: as the coordinator gave it, but for the one key corral adds,
 * the resolved client cwd, which it keeps as `clientCwd` and publishes in the words the
 * coordinator gave it in (`client_cwd`).
 */
export function contextView(context: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { clientCwd, ...given } = context;
  return clientCwd === undefined ? { ...given } : { ...given, client_cwd: clientCwd };
}

export function taskSummary(task: TaskRecord): TaskSummaryView {
  return {
    taskId: task.id,
    description: task.description,
    priority: task.priority,
    createdAt: new Date(task.createdAt).toISOString(),
    agents: task.agentCount,
    active: task.activeCount,
    events: task.eventCount,
  };
}

export function cleanupView(agent: AgentRecord, steps: readonly CleanupStepRecord[]): CleanupRecordView {
  return {
    agentId: agent.id,
    status: agent.cleanupStatus,
    attempts: agent.cleanupAttempts,
    ...verification(steps),
    steps: steps.map((s) => ({
      attempt: s.attempt,
      startedAt: new Date(s.startedAt).toISOString(),
      step: s.step,
      outcome: s.outcome,
      error: s.error,
      durationMs: s.durationMs,
      detail: s.detail,
    })),
  };
}

/** The mechanism of the latest verify (or terminate) step that looked, and its blind spots. */
function verification(steps: readonly CleanupStepRecord[]): Pick<CleanupRecordView, "verifiedBy" | "blindSpots"> {
  const looked = [...steps].reverse().find((s) => (s.step === "verify" || s.step === "terminate") && typeof s.detail.method === "string");
  const method = DISCOVERY_METHODS.find((m) => m === looked?.detail.method) ?? null;
  const spots = looked?.detail.blindSpots;
  return { verifiedBy: method, blindSpots: Array.isArray(spots) ? spots.filter((x): x is string => typeof x === "string") : [] };
}

/** Children under their parents, in creation order; roots are the agents with no parent in the task. */
function hierarchy(agents: readonly AgentSummary[]): HierarchyNode[] {
  const nodes = new Map<string, HierarchyNode>(agents.map((a) => [a.id, { agentId: a.id, status: a.status, children: [] }]));
  const roots: HierarchyNode[] = [];
  for (const agent of agents) {
    const node = nodes.get(agent.id) as HierarchyNode;
    const parent = agent.parentId === null ? undefined : nodes.get(agent.parentId);
    if (parent === undefined) roots.push(node);
    else parent.children.push(node);
  }
  return roots;
}

/** Every status counted, those no agent is in as 0, so a reader need not know the list of statuses. */
export function countsOf(tally: SummaryTally): Record<string, number> {
  return Object.fromEntries(AGENT_STATUSES.map((s) => [s, tally.counts[s] ?? 0]));
}

export function totalsOf(tally: SummaryTally): TotalsView {
  return { costUsd: tally.costUsd, inputTokens: tally.inputTokens, outputTokens: tally.outputTokens, toolCalls: tally.toolCalls };
}

function attention(store: Store, task: TaskRecord): AttentionView {
  const { total, agents } = store.summaries.needingAttention(task.id, MAX_ATTENTION);
  return { total, agents: agents.map((a) => ({ agentId: a.id, status: a.status, reason: a.reason, flags: flagsOf(a) })) };
}

/**
 * Everything a coordinator needs to know about a task, in one read that changes nothing: what
 * holds for every agent (counts, totals, who needs attention) first, then one page of the
 * agents and their hierarchy, in creation order. Each part is one indexed query, so the
 * cost is the page's, not the task's.
 */
export function taskStatus(store: Store, config: Config, task: TaskRecord, page: Page): Omit<TaskStatusView, "database"> {
  const tally = store.summaries.tallyForTask(task.id);
  const agents = store.summaries.pageForTask(task.id, page.after, page.limit);
  return {
    task: { ...taskSummary(task), context: contextView(task.context), workspace: task.workspace },
    counts: countsOf(tally),
    totals: totalsOf(tally),
    attention: attention(store, task),
    page: pageView(page, agents, tally.total),
    agents: agents.map(agentView),
    hierarchy: hierarchy(agents),
    latestProgress: store.events.latest(task.id, "progress", LATEST_PROGRESS).map(eventView),
    findings: store.events.latest(task.id, "finding", LATEST_FINDINGS).map(eventView),
    limits: {
      concurrentAgents: { limit: config.maxConcurrentAgents, used: store.agents.countHoldingSlots() },
      agentsInTask: { limit: config.maxAgentsPerTask, used: task.agentCount },
      maxDepth: config.maxDepth,
      maxChildrenPerParent: config.maxChildrenPerParent,
    },
    cleanupHealth: cleanupHealth(store),
  };
}
