import * as z from "zod";
import { AGENT_STATUSES, type ExitStatus } from "../domain/agent-state.js";
import { CLEANUP_STATUSES, parseCleanupClaim } from "../domain/cleanup-state.js";
import { RUNNER_KINDS } from "../domain/config.js";
import type { AgentId, AgentType, TaskId } from "../domain/ids.js";
import type { Validation } from "../domain/validation.js";

/** Rows are a boundary too: each is parsed into a record, so a bad row fails loudly here. */
const json = z.string().transform((text, ctx) => {
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    if (!(cause instanceof SyntaxError)) throw cause;
    ctx.addIssue({ code: "custom", message: "column holds invalid JSON" });
    return z.NEVER;
  }
});
const nullableInt = z.number().int().nullable();
const cleanupClaim = z.string().transform((text, ctx) => {
  const claim = parseCleanupClaim(text);
  if (claim.ok) return claim.value;
  ctx.addIssue({ code: "custom", message: claim.error.message });
  return z.NEVER;
});

export const TaskRowSchema = z
  .object({
    id: z.string(),
    description: z.string(),
    priority: z.string(),
    context: json,
    workspace: z.string(),
    created_at: z.number().int(),
    agent_count: z.number().int(),
    active_count: z.number().int(),
    event_count: z.number().int(),
  })
  .transform((r) => ({
    id: r.id as TaskId,
    description: r.description,
    priority: r.priority,
    context: r.context as Record<string, unknown>,
    workspace: r.workspace,
    createdAt: r.created_at,
    agentCount: r.agent_count,
    activeCount: r.active_count,
    eventCount: r.event_count,
  }));
export type TaskRecord = z.output<typeof TaskRowSchema>;

const AgentColumns = z.object({
  id: z.string(),
  task_id: z.string(),
  type: z.string(),
  parent_id: z.string().nullable(),
  depth: z.number().int(),
  status: z.enum(AGENT_STATUSES),
  reason: z.string().nullable(),
  backend: z.string(),
  runner: z.enum(RUNNER_KINDS),
  prompt: z.string(),
  spec: json,
  cwd: z.string(),
  agent_dir: z.string(),
  log_path: z.string(),
  archive_path: z.string().nullable(),
  mark: z.string(),
  owner_pid: z.number().int(),
  owner_start: z.string(),
  pid: nullableInt,
  proc_start: z.string().nullable(),
  exit_code: nullableInt,
  exit_signal: z.string().nullable(),
  slot_held: z.number().int(),
  event_count: z.number().int(),
  progress: nullableInt,
  last_message: z.string().nullable(),
  cleanup_status: z.enum(CLEANUP_STATUSES),
  cleanup_claim: cleanupClaim.nullable(),
  cleanup_attempts: z.number().int(),
  created_at: z.number().int(),
  started_at: nullableInt,
  ended_at: nullableInt,
  cleaned_at: nullableInt,
  claimed_done: z.number().int(),
  stream_offset: z.number().int(),
  session_id: z.string().nullable(),
  model: z.string().nullable(),
  mcp_connected: nullableInt,
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cost_usd: z.number().nullable(),
  num_turns: nullableInt,
  tool_calls: z.number().int(),
  denials: z.number().int(),
  stream_errors: z.number().int(),
  result_text: z.string().nullable(),
  result_is_error: nullableInt,
  validation: json.nullable(),
  last_event_at: nullableInt,
  stuck_since: nullableInt,
  limit_warnings: json.nullable(),
  transcript_path: z.string().nullable(),
  handle: json.nullable(),
  tools_url: z.string().nullable(),
});

/**
 * The columns a status view needs, read without the heavy ones (prompt, spec, paths): a task
 * of a thousand agents is read in a few milliseconds.
 */
const SummaryColumns = AgentColumns.pick({
  id: true,
  type: true,
  backend: true,
  status: true,
  reason: true,
  parent_id: true,
  depth: true,
  progress: true,
  last_message: true,
  event_count: true,
  pid: true,
  exit_code: true,
  exit_signal: true,
  cleanup_status: true,
  created_at: true,
  started_at: true,
  ended_at: true,
  claimed_done: true,
  session_id: true,
  model: true,
  mcp_connected: true,
  cost_usd: true,
  input_tokens: true,
  output_tokens: true,
  num_turns: true,
  tool_calls: true,
  denials: true,
  stream_errors: true,
  validation: true,
  stuck_since: true,
  limit_warnings: true,
  task_id: true,
  runner: true,
});
export const AGENT_SUMMARY_COLUMNS = Object.keys(SummaryColumns.shape) as (keyof z.infer<typeof SummaryColumns>)[];

function summaryOf(r: z.infer<typeof SummaryColumns>) {
  return {
    id: r.id as AgentId,
    type: r.type as AgentType,
    backend: r.backend,
    runner: r.runner,
    status: r.status,
    reason: r.reason,
    parentId: r.parent_id as AgentId | null,
    depth: r.depth,
    progress: r.progress,
    lastMessage: r.last_message,
    eventCount: r.event_count,
    pid: r.pid,
    exit: exitOf(r.exit_code, r.exit_signal),
    cleanupStatus: r.cleanup_status,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    claimedDone: r.claimed_done === 1,
    stream: {
      sessionId: r.session_id,
      model: r.model,
      corralConnected: r.mcp_connected === null ? null : r.mcp_connected === 1,
      costUsd: r.cost_usd,
      inputTokens: r.input_tokens,
      outputTokens: r.output_tokens,
      numTurns: r.num_turns,
      toolCalls: r.tool_calls,
      denials: r.denials,
      errors: r.stream_errors,
    },
    validation: r.validation as Validation | null,
    stuckSince: r.stuck_since,
    limitWarnings: (r.limit_warnings ?? []) as string[],
    taskId: r.task_id as TaskId,
  };
}

export const AgentSummaryRowSchema = SummaryColumns.transform(summaryOf);
export type AgentSummary = z.output<typeof AgentSummaryRowSchema>;

export const AgentRowSchema = AgentColumns.transform((r) => {
  const summary = summaryOf(r);
  return {
    ...summary,
    taskId: r.task_id as TaskId,
    runner: r.runner,
    prompt: r.prompt,
    spec: r.spec as Record<string, unknown>,
    cwd: r.cwd,
    agentDir: r.agent_dir,
    logPath: r.log_path,
    archivePath: r.archive_path,
    /** The transcript the agent's CLI wrote (claude: for --resume); null when none or removed. */
    transcriptPath: r.transcript_path,
    mark: r.mark,
    owner: { pid: r.owner_pid, startTime: r.owner_start },
    /** The root of the agent's processes (its identity, for ownership and the agent server's check), once started. */
    process: r.pid === null || r.proc_start === null ? null : { pid: r.pid, startTime: r.proc_start },
    /** What the agent's runner keeps to find it again (see runners/runner.ts), from its placement on; read back by that runner. */
    handle: r.handle,
    /** Where the agent's CLI calls its corral tools over HTTP; null when it reaches them otherwise. */
    toolsUrl: r.tools_url,
    slotHeld: r.slot_held === 1,
    lastEventAt: r.last_event_at,
    cleanupClaim: r.cleanup_claim,
    cleanupAttempts: r.cleanup_attempts,
    cleanedAt: r.cleaned_at,
    stream: {
      ...summary.stream,
      offset: r.stream_offset,
      result: r.result_is_error === null ? null : { text: r.result_text, isError: r.result_is_error === 1 },
    },
  };
});
export type AgentRecord = z.output<typeof AgentRowSchema>;

function exitOf(code: number | null, signal: string | null): ExitStatus | null {
  if (signal !== null) return { kind: "signalled", signal };
  if (code !== null) return { kind: "exited", code };
  return null;
}

export const EVENT_KINDS = ["progress", "finding", "stream"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export const EventRowSchema = z
  .object({
    id: z.number().int(),
    task_id: z.string(),
    agent_id: z.string(),
    kind: z.enum(EVENT_KINDS),
    at: z.number().int(),
    data: json,
  })
  .transform((r) => ({
    id: r.id,
    taskId: r.task_id as TaskId,
    agentId: r.agent_id as AgentId,
    kind: r.kind,
    at: r.at,
    data: r.data as Record<string, unknown>,
  }));
export type EventRecord = z.output<typeof EventRowSchema>;

export const STEP_OUTCOMES = ["ok", "failed", "skipped"] as const;
export type StepOutcome = (typeof STEP_OUTCOMES)[number];

export const CleanupStepRowSchema = z
  .object({
    id: z.number().int(),
    agent_id: z.string(),
    attempt: z.number().int(),
    step: z.string(),
    outcome: z.enum(STEP_OUTCOMES),
    detail: json,
    error: z.string().nullable(),
    started_at: z.number().int(),
    duration_ms: z.number(),
  })
  .transform((r) => ({
    agentId: r.agent_id as AgentId,
    attempt: r.attempt,
    step: r.step,
    outcome: r.outcome,
    detail: r.detail as Record<string, unknown>,
    error: r.error,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
  }));
export type CleanupStepRecord = z.output<typeof CleanupStepRowSchema>;
