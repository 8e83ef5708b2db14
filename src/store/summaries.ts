import type { AgentId, TaskId } from "../domain/ids.js";
import type { Db } from "./database.js";
import { AGENT_SUMMARY_COLUMNS, AgentSummaryRowSchema, type AgentSummary } from "./records.js";
import { ATTENTION_PREDICATE } from "./migrations.js";
import { LIVE } from "./sql.js";

/** Where a page starts: after the row of this (created_at, id); the first page has none. */
export interface SummaryKey {
  readonly createdAt: number;
  readonly id: string;
}

/** A list's figures over every row, not one page: counts by status and what the agents spent. */
export interface SummaryTally {
  readonly counts: Readonly<Record<string, number>>;
  readonly total: number;
  readonly costUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly toolCalls: number;
}

/**
 * An agent needing its coordinator's attention: one the status shows a flag for (see
 * lifecycle/task-status.ts flagsOf: it cannot report, tools denied, unreadable output, a
 * partial cleanup, a limit near, stuck), or one that ended badly. It is the predicate of a
 * partial index, which SQLite uses only for a query whose WHERE repeats it word for word.
 */
const NEEDS_ATTENTION = ATTENTION_PREDICATE;

const TALLY = `status, COUNT(*), COALESCE(SUM(cost_usd), 0), SUM(input_tokens), SUM(output_tokens), SUM(tool_calls)`;
const AFTER = `(created_at, id) > (@createdAt, @id)`;

function tallyOf(rows: readonly unknown[][]): SummaryTally {
  const counts: Record<string, number> = {};
  let total = 0;
  let costUsd = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let toolCalls = 0;
  for (const [status, count, cost, input, output, tools] of rows) {
    counts[String(status)] = Number(count);
    total += Number(count);
    costUsd += Number(cost);
    inputTokens += Number(input);
    outputTokens += Number(output);
    toolCalls += Number(tools);
  }
  return { counts, total, costUsd, inputTokens, outputTokens, toolCalls };
}

/**
 * A summary row, from the array the query returns. Named one by one, in the order of
 * AGENT_SUMMARY_COLUMNS, so that every row is an object of one fixed shape: built key by key
 * in a loop they turn into dictionaries, which cost more to make and to validate.
 */
function toSummary(values: readonly unknown[]): AgentSummary {
  const [id, type, backend, status, reason, parent_id, depth, progress, last_message, event_count, pid] = values;
  const [exit_code, exit_signal, cleanup_status, created_at, started_at, ended_at, claimed_done, session_id] = values.slice(11);
  const [model, mcp_connected, cost_usd, input_tokens, output_tokens, num_turns, tool_calls, denials] = values.slice(19);
  const [stream_errors, validation, stuck_since, limit_warnings, task_id, runner] = values.slice(27);
  return AgentSummaryRowSchema.parse({
    id,
    type,
    backend,
    runner,
    status,
    reason,
    parent_id,
    depth,
    progress,
    last_message,
    event_count,
    pid,
    exit_code,
    exit_signal,
    cleanup_status,
    created_at,
    started_at,
    ended_at,
    claimed_done,
    session_id,
    model,
    mcp_connected,
    cost_usd,
    input_tokens,
    output_tokens,
    num_turns,
    tool_calls,
    denials,
    stream_errors,
    validation,
    stuck_since,
    limit_warnings,
    task_id,
  });
}

/** What status views show of agents: the summary columns only, read as arrays. */
export class AgentSummaries {
  private readonly byTaskStmt;
  private readonly byIdStmt;
  private readonly allStmt;
  private readonly liveStmt;
  private readonly taskPageStmt;
  private readonly taskPageAfterStmt;
  private readonly allPageStmt;
  private readonly allPageAfterStmt;
  private readonly livePageStmt;
  private readonly livePageAfterStmt;
  private readonly taskTallyStmt;
  private readonly allTallyStmt;
  private readonly liveTallyStmt;
  private readonly attentionStmt;
  private readonly attentionCountStmt;

  constructor(db: Db) {
    const columns = AGENT_SUMMARY_COLUMNS.join(", ");
    // Rows as arrays: building an object per row with named keys costs more than the query.
    this.byTaskStmt = db.prepare(`SELECT ${columns} FROM agents WHERE task_id = ? ORDER BY created_at, id`).raw(true);
    this.byIdStmt = db.prepare(`SELECT ${columns} FROM agents WHERE id = ?`).raw(true);
    this.allStmt = db.prepare(`SELECT ${columns} FROM agents ORDER BY created_at, id`).raw(true);
    this.liveStmt = db.prepare(`SELECT ${columns} FROM agents WHERE status IN ${LIVE} ORDER BY created_at, id`).raw(true);
    const page = (where: string) => db.prepare(`SELECT ${columns} FROM agents WHERE ${where} ORDER BY created_at, id LIMIT @limit`).raw(true);
    this.taskPageStmt = page(`task_id = @taskId`);
    this.taskPageAfterStmt = page(`task_id = @taskId AND ${AFTER}`);
    this.allPageStmt = page(`1`);
    this.allPageAfterStmt = page(AFTER);
    this.livePageStmt = page(`status IN ${LIVE}`);
    this.livePageAfterStmt = page(`status IN ${LIVE} AND ${AFTER}`);
    this.taskTallyStmt = db.prepare(`SELECT ${TALLY} FROM agents WHERE task_id = ? GROUP BY status`).raw(true);
    this.allTallyStmt = db.prepare(`SELECT ${TALLY} FROM agents GROUP BY status`).raw(true);
    this.liveTallyStmt = db.prepare(`SELECT ${TALLY} FROM agents WHERE status IN ${LIVE} GROUP BY status`).raw(true);
    this.attentionStmt = db.prepare(`SELECT ${columns} FROM agents WHERE task_id = ? AND ${NEEDS_ATTENTION} ORDER BY created_at, id LIMIT ?`).raw(true);
    this.attentionCountStmt = db.prepare(`SELECT COUNT(*) FROM agents WHERE task_id = ? AND ${NEEDS_ATTENTION}`).pluck();
  }

  /** One page of the task's agents, in creation order, after `after`. */
  pageForTask(taskId: TaskId, after: SummaryKey | null, limit: number): AgentSummary[] {
    const rows = after === null ? this.taskPageStmt.all({ taskId, limit }) : this.taskPageAfterStmt.all({ taskId, limit, ...after });
    return (rows as unknown[][]).map(toSummary);
  }

  /** One page of every agent, or of those not yet ended, in creation order, after `after`. */
  page(liveOnly: boolean, after: SummaryKey | null, limit: number): AgentSummary[] {
    const stmt = liveOnly ? (after === null ? this.livePageStmt : this.livePageAfterStmt) : after === null ? this.allPageStmt : this.allPageAfterStmt;
    return (stmt.all({ limit, ...(after ?? {}) }) as unknown[][]).map(toSummary);
  }

  /** The task's counts by status and what its agents spent, over all of them. */
  tallyForTask(taskId: TaskId): SummaryTally {
    return tallyOf(this.taskTallyStmt.all(taskId) as unknown[][]);
  }

  /** The same over every agent, or over those not yet ended. */
  tally(liveOnly: boolean): SummaryTally {
    return tallyOf((liveOnly ? this.liveTallyStmt : this.allTallyStmt).all() as unknown[][]);
  }

  /** The first `limit` of the task's agents needing attention, in creation order, and how many there are. */
  needingAttention(taskId: TaskId, limit: number): { readonly total: number; readonly agents: AgentSummary[] } {
    const total = this.attentionCountStmt.get(taskId) as number;
    return { total, agents: total === 0 ? [] : (this.attentionStmt.all(taskId, limit) as unknown[][]).map(toSummary) };
  }

  /** Each agent of the task, in creation order. */
  forTask(taskId: TaskId): AgentSummary[] {
    return (this.byTaskStmt.all(taskId) as unknown[][]).map(toSummary);
  }

  /** Every agent of every task, or only those not yet ended, in creation order. */
  all(liveOnly: boolean): AgentSummary[] {
    return ((liveOnly ? this.liveStmt : this.allStmt).all() as unknown[][]).map(toSummary);
  }

  get(id: AgentId): AgentSummary | null {
    const row = this.byIdStmt.get(id) as unknown[] | undefined;
    return row === undefined ? null : toSummary(row);
  }
}
