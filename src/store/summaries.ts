import type { AgentId, TaskId } from "../domain/ids.js";
import type { Db } from "./database.js";
import { AGENT_SUMMARY_COLUMNS, AgentSummaryRowSchema, type AgentSummary } from "./records.js";
import { LIVE } from "./sql.js";

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

  constructor(db: Db) {
    const columns = AGENT_SUMMARY_COLUMNS.join(", ");
    // Rows as arrays: building an object per row with named keys costs more than the query.
    this.byTaskStmt = db.prepare(`SELECT ${columns} FROM agents WHERE task_id = ? ORDER BY created_at, id`).raw(true);
    this.byIdStmt = db.prepare(`SELECT ${columns} FROM agents WHERE id = ?`).raw(true);
    this.allStmt = db.prepare(`SELECT ${columns} FROM agents ORDER BY created_at, id`).raw(true);
    this.liveStmt = db.prepare(`SELECT ${columns} FROM agents WHERE status IN ${LIVE} ORDER BY created_at, id`).raw(true);
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
