import * as z from "zod";
import { RUNNER_KINDS } from "../domain/config.js";
import { AGENT_STATUSES } from "../domain/agent-state.js";
import { CLEANUP_STATUSES } from "../domain/cleanup-state.js";
import { DISCOVERY_METHODS } from "../runners/runner.js";
import { JsonRecord, keyedByCorral } from "../contract/wire.js";
import { EventView } from "./event-views.js";

export { EventView };

/**
 * What the service shows of its state, in TypeScript's camelCase. Every entry point returns
 * these shapes, published through contract/ (snake_case keys, JSON Schema) by the MCP tools
 * and the CLI's --json alike, so the types are derived from the schemas.
 */
export const ExitView = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("exited"), code: z.number().int() }),
  z.object({ kind: z.literal("signalled"), signal: z.string() }),
]);

export const AgentView = z.object({
  agentId: z.string(),
  taskId: z.string(),
  type: z.string(),
  backend: z.string(),
  /** process, or tmux: then `corral attach` shows it live. */
  runner: z.enum(RUNNER_KINDS),
  status: z.enum(AGENT_STATUSES),
  reason: z.string().nullable(),
  parent: z.string().nullable(),
  depth: z.number().int(),
  progress: z.number().int().nullable(),
  latestMessage: z.string().nullable(),
  events: z.number().int(),
  pid: z.number().int().nullable(),
  exit: ExitView.nullable(),
  cleanup: z.enum(CLEANUP_STATUSES),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  claimedDone: z.boolean(),
  sessionId: z.string().nullable(),
  model: z.string().nullable(),
  corralConnected: z.boolean().nullable(),
  costUsd: z.number().nullable(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  numTurns: z.number().int().nullable(),
  toolCalls: z.number().int(),
  /** Problems seen while it runs, e.g. that it cannot report. */
  flags: z.array(z.string()),
  validation: z.object({ confidence: z.string(), score: z.number(), warnings: z.array(z.string()) }).nullable(),
});
export type AgentView = z.infer<typeof AgentView>;

export interface HierarchyNode {
  agentId: string;
  status: string;
  children: HierarchyNode[];
}
export const HierarchyNodeView: z.ZodType<HierarchyNode> = z.lazy(() =>
  z.object({ agentId: z.string(), status: z.string(), children: z.array(HierarchyNodeView) }),
).meta({ id: "hierarchy_node" });

export const LimitUse = z.object({ limit: z.number().int(), used: z.number().int() });

export const TaskSummaryView = z.object({
  taskId: z.string(),
  description: z.string(),
  priority: z.string(),
  createdAt: z.string(),
  agents: z.number().int(),
  active: z.number().int(),
  events: z.number().int(),
});
export type TaskSummaryView = z.infer<typeof TaskSummaryView>;

export const CleanupHealthView = z.object({
  finished: z.number().int(),
  done: z.number().int(),
  partial: z.number().int(),
  running: z.number().int(),
  successRate: z.number().nullable(),
  durationMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable(), max: z.number().nullable() }),
  failingSteps: z.record(z.string(), z.number().int()),
  warnings: z.array(z.string()),
});
export type CleanupHealthView = z.infer<typeof CleanupHealthView>;

/** Where a page of a list stands: `next` is the cursor of the following page, null on the last. */
export const PageView = z.object({
  offset: z.number().int(),
  returned: z.number().int(),
  total: z.number().int(),
  next: z.string().nullable(),
});
export type PageView = z.infer<typeof PageView>;
/** Whether the state dir's database takes writes now, and if not, who holds its lock. */
export const DatabaseView = z.object({
  writable: z.boolean(),
  /** Processes holding its write lock, as /proc/locks shows them (empty when none, or unknown). */
  lockedBy: z.array(z.object({ pid: z.number().int(), command: z.string().nullable() })),
  /** Agents' ends kept in the journal until the database takes them. */
  pendingEnds: z.number().int(),
  note: z.string().nullable(),
});
export type DatabaseView = z.infer<typeof DatabaseView>;

/** What a list's agents spent, over all of them. */
export const TotalsView = z.object({
  costUsd: z.number(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  toolCalls: z.number().int(),
});
export type TotalsView = z.infer<typeof TotalsView>;

/** The agents that need a look: flagged (see AgentView.flags), or ended failed, crashed or timed out. */
export const AttentionView = z.object({
  /** How many there are in the task; `agents` names the first of them, in creation order. */
  total: z.number().int(),
  agents: z.array(z.object({ agentId: z.string(), status: z.enum(AGENT_STATUSES), reason: z.string().nullable(), flags: z.array(z.string()) })),
});
export type AttentionView = z.infer<typeof AttentionView>;

/**
 * A task's status: what holds for the whole task first (counts, totals, the agents needing
 * attention), then one page of its agents, then the task's latest reports and the limits.
 */
export const TaskStatusView = z.object({
  task: TaskSummaryView.extend({ context: JsonRecord(), workspace: z.string() }),
  /** Over every agent of the task. */
  counts: z.record(z.string(), z.number().int()),
  totals: TotalsView,
  attention: AttentionView,
  page: PageView,
  /** One page of the task's agents, in creation order, and their hierarchy. */
  agents: z.array(AgentView),
  hierarchy: z.array(HierarchyNodeView),
  latestProgress: z.array(EventView),
  findings: z.array(EventView),
  limits: z.object({
    concurrentAgents: LimitUse,
    agentsInTask: LimitUse,
    maxDepth: z.number().int(),
    maxChildrenPerParent: z.number().int(),
  }),
  /** Over every agent of this state dir, not only this task's. */
  cleanupHealth: CleanupHealthView,
  database: DatabaseView,
  /** Set when the reply was clipped to fit its byte budget. */
  truncated: z.boolean().optional(),
});
export type TaskStatusView = z.infer<typeof TaskStatusView>;

export const CleanupStepView = z.object({
  attempt: z.number().int(),
  startedAt: z.string(),
  step: z.string(),
  outcome: z.string(),
  error: z.string().nullable(),
  durationMs: z.number(),
  /** What the step did and found, keyed by corral (published in snake_case at every depth). */
  detail: keyedByCorral(JsonRecord()),
});

export const CleanupRecordView = z.object({
  agentId: z.string(),
  status: z.enum(CLEANUP_STATUSES),
  attempts: z.number().int(),
  /**
   * How the latest look at the agent's processes found them: `cgroup` (its own cgroup),
   * `tree` (tini's tree, while tini lived) or `sweep` (session and mark); null before one ran.
   */
  verifiedBy: z.enum(DISCOVERY_METHODS).nullable(),
  /** Escapers that mechanism cannot see: what "0 survivors" does not vouch for. */
  blindSpots: z.array(z.string()),
  steps: z.array(CleanupStepView),
});
export type CleanupRecordView = z.infer<typeof CleanupRecordView>;
