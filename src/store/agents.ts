import { sourcesOf, type ExitStatus, type TerminalStatus } from "../domain/agent-state.js";
import type { RunnerKind } from "../domain/config.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../domain/ids.js";
import { checkDeploy, type Limits } from "../domain/limits.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";
import { AGENT_SUMMARY_COLUMNS, AgentRowSchema, AgentSummaryRowSchema, type AgentRecord, type AgentSummary } from "./records.js";

export interface NewAgent {
  readonly id: AgentId;
  readonly taskId: TaskId;
  readonly type: AgentType;
  readonly parentId: AgentId | null;
  readonly backend: string;
  readonly runner: RunnerKind;
  readonly prompt: string;
  readonly spec: Record<string, unknown>;
  readonly cwd: string;
  readonly agentDir: string;
  readonly logPath: string;
  readonly mark: string;
  /** sha256 of the agent server's token; null for agents that get none. */
  readonly tokenHash: string | null;
  readonly owner: { readonly pid: number; readonly startTime: string };
  readonly createdAt: number;
}

/** What a stretch of an agent's output stream adds to its totals. */
export interface StreamDelta {
  readonly sessionId?: string;
  readonly model?: string | null;
  readonly corralConnected?: boolean | null;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd?: number | null;
  readonly numTurns?: number | null;
  readonly toolCalls: number;
  readonly denials: number;
  readonly errors: number;
  readonly lastText?: string;
  readonly result?: { readonly text: string | null; readonly isError: boolean };
  /** The run's own totals, from its final result: they replace the running sums. */
  readonly totalTokens?: { readonly input: number; readonly output: number };
}

/** What a launch records: the agent's root process, and the handle its runner gave. */
export interface StartedProcess {
  readonly pid: number;
  readonly startTime: string;
  /** JSON of the runner's own shape. */
  readonly handle: unknown;
}

export interface Ending {
  readonly status: TerminalStatus;
  readonly reason: string | null;
  readonly exit: ExitStatus | null;
  readonly at: number;
  /** Who runs the cleanup that the winner of this transition owns. */
  readonly claim: string;
}

const LIVE = `('pending', 'running')`;

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

export interface ArchivedAgent {
  readonly id: AgentId;
  readonly taskId: TaskId;
  readonly path: string;
  readonly endedAt: number | null;
  readonly transcriptPath: string | null;
}

export class AgentTable {
  private readonly getStmt;
  private readonly summariesStmt;
  private readonly summaryStmt;
  private readonly allSummariesStmt;
  private readonly liveSummariesStmt;
  private readonly activeStmt;
  private readonly byTaskStmt;
  private readonly liveChildrenStmt;
  private readonly liveOwnedStmt;
  private readonly liveStmt;
  private readonly cleanupRunningStmt;
  private readonly adoptStmt;
  private readonly takeOverCleanupStmt;
  private readonly cleanupOpenStmt;
  private readonly insertTx;
  private readonly releaseTx;
  private readonly recordLaunchStmt;
  private readonly recordExitStmt;
  private readonly recordHandleStmt;
  private readonly claimRetryStmt;
  private readonly finishCleanupStmt;
  private readonly setArchiveStmt;
  private readonly setTranscriptStmt;
  private readonly archivedStmt;
  private readonly liveIdsStmt;
  private readonly byTokenStmt;
  private readonly claimDoneStmt;
  private readonly markStuckStmt;
  private readonly clearStuckStmt;
  private readonly limitWarningsStmt;
  private readonly setValidationStmt;
  private readonly eventCountsStmt;
  private readonly cleanupCountsStmt;
  private readonly applyStreamTx: (
    agent: { id: AgentId; taskId: TaskId },
    from: number,
    to: number,
    delta: StreamDelta,
    events: readonly unknown[],
    at: number,
  ) => boolean;
  private readonly endStmts: Map<TerminalStatus, ReturnType<Db["prepare"]>>;

  private readonly guard: WriteGuard;

  constructor(db: Db, guard: WriteGuard) {
    this.guard = guard;
    this.getStmt = db.prepare(`SELECT * FROM agents WHERE id = ?`);
    const columns = AGENT_SUMMARY_COLUMNS.join(", ");
    // Rows as arrays: building an object per row with named keys costs more than the query.
    this.summariesStmt = db.prepare(`SELECT ${columns} FROM agents WHERE task_id = ? ORDER BY created_at, id`).raw(true);
    this.summaryStmt = db.prepare(`SELECT ${columns} FROM agents WHERE id = ?`).raw(true);
    this.allSummariesStmt = db.prepare(`SELECT ${columns} FROM agents ORDER BY created_at, id`).raw(true);
    this.liveSummariesStmt = db.prepare(`SELECT ${columns} FROM agents WHERE status IN ${LIVE} ORDER BY created_at, id`).raw(true);
    this.byTaskStmt = db.prepare(`SELECT * FROM agents WHERE task_id = ? ORDER BY created_at, id`);
    this.liveChildrenStmt = db.prepare(`SELECT * FROM agents WHERE parent_id = ? AND status IN ${LIVE}`);
    this.liveOwnedStmt = db.prepare(`SELECT * FROM agents WHERE owner_pid = ? AND owner_start = ? AND status IN ${LIVE}`);
    this.liveStmt = db.prepare(`SELECT * FROM agents WHERE status IN ${LIVE} ORDER BY created_at`);
    this.cleanupRunningStmt = db.prepare(`SELECT * FROM agents WHERE cleanup_status = 'running' ORDER BY ended_at`);
    this.adoptStmt = db.prepare(
      `UPDATE agents SET owner_pid = @toPid, owner_start = @toStart
       WHERE id = @id AND owner_pid = @fromPid AND owner_start = @fromStart AND status IN ${LIVE}`,
    );
    this.takeOverCleanupStmt = db.prepare(
      `UPDATE agents SET cleanup_claim = @claim, cleanup_attempts = cleanup_attempts + 1
       WHERE id = @id AND cleanup_status = 'running' AND cleanup_claim IS @stale`,
    );
    this.cleanupOpenStmt = db.prepare(`SELECT * FROM agents WHERE cleanup_status = 'partial' ORDER BY ended_at`);

    const taskStmt = db.prepare(`SELECT agent_count FROM tasks WHERE id = ?`);
    const parentStmt = db.prepare(`SELECT depth, status FROM agents WHERE id = ? AND task_id = ?`);
    const childCountStmt = db.prepare(`SELECT COUNT(*) AS n FROM agents WHERE parent_id = ?`);
    const activeStmt = db.prepare(`SELECT COUNT(*) AS n FROM agents WHERE slot_held = 1`);
    this.activeStmt = activeStmt;
    const insertStmt = db.prepare(
      `INSERT INTO agents (id, task_id, type, parent_id, depth, status, backend, runner, prompt, spec, cwd,
         agent_dir, log_path, mark, token_hash, owner_pid, owner_start, created_at)
       VALUES (@id, @taskId, @type, @parentId, @depth, 'pending', @backend, @runner, @prompt, @spec, @cwd,
         @agentDir, @logPath, @mark, @tokenHash, @ownerPid, @ownerStart, @createdAt)`,
    );
    const bumpTask = db.prepare(
      `UPDATE tasks SET agent_count = agent_count + 1, active_count = active_count + 1 WHERE id = ?`,
    );
    // Limits are read and the row written under one write lock: two deploys racing for the
    // last slot cannot both see it free.
    const insert = db.transaction((agent: NewAgent, limits: Limits): Result<number> => {
      const task = taskStmt.get(agent.taskId) as { agent_count: number } | undefined;
      if (task === undefined) return fail("UNKNOWN_TASK", `no task ${agent.taskId}`);
      let parent = null;
      if (agent.parentId !== null) {
        const row = parentStmt.get(agent.parentId, agent.taskId) as { depth: number; status: string } | undefined;
        if (row === undefined) return fail("UNKNOWN_AGENT", `no agent ${agent.parentId} in task ${agent.taskId}`);
        const children = (childCountStmt.get(agent.parentId) as { n: number }).n;
        parent = { depth: row.depth, children, live: row.status === "pending" || row.status === "running" };
      }
      const activeAgents = (activeStmt.get() as { n: number }).n;
      const allowed = checkDeploy({ activeAgents, taskAgents: task.agent_count, parent }, limits);
      if (!allowed.ok) return allowed;
      insertStmt.run({
        ...agent,
        spec: JSON.stringify(agent.spec),
        depth: allowed.value.depth,
        ownerPid: agent.owner.pid,
        ownerStart: agent.owner.startTime,
      });
      bumpTask.run(agent.taskId);
      return ok(allowed.value.depth);
    });
    this.insertTx = (agent: NewAgent, limits: Limits) => insert.immediate(agent, limits);

    const dropSlot = db.prepare(`UPDATE agents SET slot_held = 0 WHERE id = ? AND slot_held = 1`);
    const dropTaskSlot = db.prepare(
      `UPDATE tasks SET active_count = active_count - 1 WHERE id = (SELECT task_id FROM agents WHERE id = ?)`,
    );
    const release = db.transaction((id: AgentId): boolean => {
      if (dropSlot.run(id).changes !== 1) return false;
      dropTaskSlot.run(id);
      return true;
    });
    this.releaseTx = (id: AgentId) => guard(() => release.immediate(id));

    // The process is recorded even when a kill from another process ended the agent while it
    // launched: that killer waits for this row to name the process, then stops it.
    this.recordLaunchStmt = db.prepare(
      `UPDATE agents SET pid = @pid, proc_start = @startTime, handle = COALESCE(@handle, handle),
         started_at = @at, status = CASE WHEN status = 'pending' AND @pid IS NOT NULL THEN 'running' ELSE status END
       WHERE id = @id AND started_at IS NULL`,
    );
    this.recordHandleStmt = db.prepare(`UPDATE agents SET handle = ? WHERE id = ?`);
    this.recordExitStmt = db.prepare(
      `UPDATE agents SET exit_code = ?, exit_signal = ? WHERE id = ? AND exit_code IS NULL AND exit_signal IS NULL`,
    );
    this.claimRetryStmt = db.prepare(
      `UPDATE agents SET cleanup_status = 'running', cleanup_claim = ?, cleanup_attempts = cleanup_attempts + 1
       WHERE id = ? AND cleanup_status = 'partial'`,
    );
    this.finishCleanupStmt = db.prepare(
      `UPDATE agents SET cleanup_status = @outcome, cleanup_claim = NULL,
         cleaned_at = CASE WHEN @outcome = 'done' THEN @at ELSE cleaned_at END
       WHERE id = @id AND cleanup_claim = @claim`,
    );
    this.setArchiveStmt = db.prepare(`UPDATE agents SET archive_path = ? WHERE id = ?`);
    this.setTranscriptStmt = db.prepare(`UPDATE agents SET transcript_path = ? WHERE id = ?`);
    this.archivedStmt = db.prepare(
      `SELECT id, task_id AS taskId, archive_path AS path, ended_at AS endedAt, transcript_path AS transcriptPath FROM agents
       WHERE archive_path IS NOT NULL ORDER BY ended_at, id`,
    );
    this.liveIdsStmt = db.prepare(`SELECT id FROM agents WHERE status IN ${LIVE}`).pluck();
    this.byTokenStmt = db.prepare(`SELECT * FROM agents WHERE token_hash = ?`);
    this.claimDoneStmt = db.prepare(`UPDATE agents SET claimed_done = 1 WHERE id = ?`);
    this.markStuckStmt = db.prepare(`UPDATE agents SET stuck_since = ? WHERE id = ? AND stuck_since IS NULL`);
    this.clearStuckStmt = db.prepare(`UPDATE agents SET stuck_since = NULL WHERE id = ?`);
    this.limitWarningsStmt = db.prepare(`UPDATE agents SET limit_warnings = ? WHERE id = ?`);
    this.setValidationStmt = db.prepare(`UPDATE agents SET validation = ? WHERE id = ?`);
    this.eventCountsStmt = db.prepare(`SELECT kind, COUNT(*) AS n FROM events WHERE agent_id = ? GROUP BY kind`);
    this.cleanupCountsStmt = db.prepare(`SELECT cleanup_status AS status, COUNT(*) AS n FROM agents GROUP BY cleanup_status`);
    const advance = db.prepare(
      `UPDATE agents SET stream_offset = @to,
         session_id = COALESCE(@sessionId, session_id), model = COALESCE(@model, model),
         mcp_connected = COALESCE(@corralConnected, mcp_connected),
         input_tokens = CASE WHEN @totalInput IS NULL THEN input_tokens + @inputTokens ELSE @totalInput END,
         output_tokens = CASE WHEN @totalOutput IS NULL THEN output_tokens + @outputTokens ELSE @totalOutput END,
         cost_usd = COALESCE(@costUsd, cost_usd), num_turns = COALESCE(@numTurns, num_turns),
         tool_calls = tool_calls + @toolCalls, denials = denials + @denials, stream_errors = stream_errors + @errors,
         last_message = COALESCE(@lastText, last_message),
         result_text = CASE WHEN @hasResult = 1 THEN @resultText ELSE result_text END,
         result_is_error = CASE WHEN @hasResult = 1 THEN @resultIsError ELSE result_is_error END
       WHERE id = @id AND stream_offset = @from`,
    );
    const insertEvent = db.prepare(`INSERT INTO events (task_id, agent_id, kind, at, data) VALUES (?, ?, 'stream', ?, ?)`);
    const bumpCounts = db.prepare(`UPDATE agents SET event_count = event_count + ? WHERE id = ?`);
    const bumpTaskEvents = db.prepare(`UPDATE tasks SET event_count = event_count + ? WHERE id = ?`);
    // The offset is the guard: two processes reading the same log cannot both count a stretch.
    const applyStream = db.transaction(
      (agent: { id: AgentId; taskId: TaskId }, from: number, to: number, delta: StreamDelta, events: readonly unknown[], at: number): boolean => {
        const changed = advance.run({
          id: agent.id,
          from,
          to,
          sessionId: delta.sessionId ?? null,
          model: delta.model ?? null,
          corralConnected: delta.corralConnected === undefined || delta.corralConnected === null ? null : delta.corralConnected ? 1 : 0,
          inputTokens: delta.inputTokens,
          outputTokens: delta.outputTokens,
          totalInput: delta.totalTokens?.input ?? null,
          totalOutput: delta.totalTokens?.output ?? null,
          costUsd: delta.costUsd ?? null,
          numTurns: delta.numTurns ?? null,
          toolCalls: delta.toolCalls,
          denials: delta.denials,
          errors: delta.errors,
          lastText: delta.lastText ?? null,
          hasResult: delta.result === undefined ? 0 : 1,
          resultText: delta.result?.text ?? null,
          resultIsError: delta.result?.isError === true ? 1 : 0,
        });
        if (changed.changes !== 1) return false;
        for (const event of events) insertEvent.run(agent.taskId, agent.id, at, JSON.stringify(event));
        if (events.length > 0) {
          bumpCounts.run(events.length, agent.id);
          bumpTaskEvents.run(events.length, agent.taskId);
        }
        return true;
      },
    );
    this.applyStreamTx = (agent, from, to, delta, events, at) => guard(() => applyStream.immediate(agent, from, to, delta, events, at));
    this.endStmts = new Map();
    for (const status of ["completed", "failed", "killed", "crashed", "timed_out"] as const) {
      const from = sourcesOf(status).map((s) => `'${s}'`).join(", ");
      this.endStmts.set(
        status,
        db.prepare(
          `UPDATE agents SET status = '${status}', reason = COALESCE(reason, @reason),
             exit_code = COALESCE(exit_code, @exitCode), exit_signal = COALESCE(exit_signal, @exitSignal),
             ended_at = @at, cleanup_status = 'running', cleanup_claim = @claim,
             cleanup_attempts = cleanup_attempts + 1
           WHERE id = @id AND status IN (${from})`,
        ),
      );
    }
  }

  /** Checks the limits and inserts the pending agent in one transaction. */
  insert(agent: NewAgent, limits: Limits): Result<AgentRecord> {
    const inserted = this.insertTx(agent, limits);
    if (!inserted.ok) return inserted;
    return ok(this.get(agent.id) as AgentRecord);
  }

  get(id: AgentId): AgentRecord | null {
    const row = this.getStmt.get(id);
    return row === undefined ? null : AgentRowSchema.parse(row);
  }

  /** What a status view shows of each agent of the task, in creation order. */
  summariesForTask(taskId: TaskId): AgentSummary[] {
    return (this.summariesStmt.all(taskId) as unknown[][]).map(toSummary);
  }

  /** Every agent of every task, or only those not yet ended, in creation order. */
  summaries(liveOnly: boolean): AgentSummary[] {
    return ((liveOnly ? this.liveSummariesStmt : this.allSummariesStmt).all() as unknown[][]).map(toSummary);
  }

  summary(id: AgentId): AgentSummary | null {
    const row = this.summaryStmt.get(id) as unknown[] | undefined;
    return row === undefined ? null : toSummary(row);
  }

  forTask(taskId: TaskId): AgentRecord[] {
    return this.byTaskStmt.all(taskId).map((row) => AgentRowSchema.parse(row));
  }

  liveChildren(id: AgentId): AgentRecord[] {
    return this.liveChildrenStmt.all(id).map((row) => AgentRowSchema.parse(row));
  }

  liveOwnedBy(owner: { readonly pid: number; readonly startTime: string }): AgentRecord[] {
    return this.liveOwnedStmt.all(owner.pid, owner.startTime).map((row) => AgentRowSchema.parse(row));
  }

  /** Every agent not yet ended, whoever owns it. */
  live(): AgentRecord[] {
    return this.liveStmt.all().map((row) => AgentRowSchema.parse(row));
  }

  /** Agents whose cleanup someone has claimed and not finished. */
  cleanupRunning(): AgentRecord[] {
    return this.cleanupRunningStmt.all().map((row) => AgentRowSchema.parse(row));
  }

  /** Makes `to` the owner of a live agent still owned by `from`; true for exactly one caller. */
  adopt(id: AgentId, from: { pid: number; startTime: string }, to: { pid: number; startTime: string }): boolean {
    return (
      this.adoptStmt.run({ id, fromPid: from.pid, fromStart: from.startTime, toPid: to.pid, toStart: to.startTime }).changes === 1
    );
  }

  /** Takes over a cleanup whose claimer died mid-way; true for exactly one caller. */
  takeOverCleanup(id: AgentId, stale: string | null, claim: string): boolean {
    return this.takeOverCleanupStmt.run({ id, stale, claim }).changes === 1;
  }

  /** Agents whose cleanup left a step failed, oldest first. */
  cleanupPartial(): AgentRecord[] {
    return this.cleanupOpenStmt.all().map((row) => AgentRowSchema.parse(row));
  }

  /**
   * Ends the launch: with the started process (pending → running, unless the agent was
   * already ended) or with null when nothing could be started.
   */
  recordLaunch(id: AgentId, proc: StartedProcess | null, at: number): void {
    this.guard(() => this.recordLaunchStmt.run({
      id,
      pid: proc?.pid ?? null,
      startTime: proc?.startTime ?? null,
      handle: proc?.handle == null ? null : JSON.stringify(proc.handle),
      at,
    }));
  }

  /**
   * The terminal transition. True for exactly one caller, which then owns the agent's cleanup
   * (the same UPDATE claims it), so cleanup can never run twice.
   */
  end(id: AgentId, ending: Ending): boolean {
    const stmt = this.endStmts.get(ending.status);
    if (stmt === undefined) throw new Error(`no transition to ${ending.status}`);
    const exit = ending.exit;
    const run = () =>
      stmt.run({
        id,
        reason: ending.reason,
        exitCode: exit?.kind === "exited" ? exit.code : null,
        exitSignal: exit?.kind === "signalled" ? exit.signal : null,
        at: ending.at,
        claim: ending.claim,
      });
    return this.guard(run).changes === 1;
  }

  /**
   * The agent's placed handle (naming its cgroup, when it has one), recorded before anything
   * is started: whoever cleans the agent, after any crash, finds what it may have started.
   */
  recordHandle(id: AgentId, handle: unknown): void {
    this.guard(() => this.recordHandleStmt.run(JSON.stringify(handle), id));
  }

  /** Keeps the first exit status recorded: the process that saw the exit knows it best. */
  recordExit(id: AgentId, exit: ExitStatus): void {
    this.guard(() => this.recordExitStmt.run(exit.kind === "exited" ? exit.code : null, exit.kind === "signalled" ? exit.signal : null, id));
  }

  claimRetry(id: AgentId, claim: string): boolean {
    return this.claimRetryStmt.run(claim, id).changes === 1;
  }

  finishCleanup(id: AgentId, claim: string, outcome: "done" | "partial", at: number): boolean {
    return this.guard(() => this.finishCleanupStmt.run({ id, claim, outcome, at })).changes === 1;
  }

  /** True only for the one call that actually gave the slot back. */
  releaseSlot(id: AgentId): boolean {
    return this.releaseTx(id);
  }

  /** Where the agent's log was archived; null once retention has deleted it. */
  setArchive(id: AgentId, path: string | null): void {
    this.setArchiveStmt.run(path, id);
  }

  /** Where the agent's CLI kept its transcript; null once it is removed with the archive. */
  setTranscript(id: AgentId, path: string | null): void {
    this.setTranscriptStmt.run(path, id);
  }

  /** Every archived agent, oldest ended first. */
  archived(): ArchivedAgent[] {
    return this.archivedStmt.all() as ArchivedAgent[];
  }

  liveIds(): Set<string> {
    return new Set(this.liveIdsStmt.all() as string[]);
  }

  byTokenHash(hash: string): AgentRecord | null {
    const row = this.byTokenStmt.get(hash);
    return row === undefined ? null : AgentRowSchema.parse(row);
  }

  /** The agent said it is done; it stays running until its process exits. */
  claimDone(id: AgentId): void {
    this.claimDoneStmt.run(id);
  }

  /** Records that the agent looks stuck; true only the first time. */
  markStuck(id: AgentId, since: number): boolean {
    return this.markStuckStmt.run(since, id).changes === 1;
  }

  clearStuck(id: AgentId): void {
    this.clearStuckStmt.run(id);
  }

  /** What the reaper last saw of the agent's use of its limits (past 80 %); [] when nothing. */
  setLimitWarnings(id: AgentId, warnings: readonly string[]): void {
    this.limitWarningsStmt.run(warnings.length === 0 ? null : JSON.stringify(warnings), id);
  }

  setValidation(id: AgentId, validation: unknown): void {
    this.guard(() => this.setValidationStmt.run(JSON.stringify(validation), id));
  }

  /** How many agents are in each cleanup state. */
  cleanupCounts(): Record<string, number> {
    const rows = this.cleanupCountsStmt.all() as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** How many events of each kind the agent has. */
  eventCounts(id: AgentId): Record<string, number> {
    const rows = this.eventCountsStmt.all(id) as { kind: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
  }

  /**
   * Adds what the log between `from` and `to` said, with its events, if no one else has yet:
   * false when the stored offset is no longer `from`.
   */
  applyStream(agent: { id: AgentId; taskId: TaskId }, from: number, to: number, delta: StreamDelta, events: readonly unknown[], at: number): boolean {
    return this.applyStreamTx(agent, from, to, delta, events, at);
  }

  countHoldingSlots(): number {
    return (this.activeStmt.get() as { n: number }).n;
  }
}
