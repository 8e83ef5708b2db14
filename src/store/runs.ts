import { sourcesOf, TERMINAL_STATUSES, type ExitStatus, type TerminalStatus } from "../domain/agent-state.js";
import { CLEANUP_MOVES, formatCleanupClaim, type CleanupClaim } from "../domain/cleanup-state.js";
import type { AgentId } from "../domain/ids.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";
import { literal, literalList } from "./sql.js";

/** What a launch records: the agent's root process, and the handle its runner gave. */
export interface StartedProcess {
  readonly pid: number;
  readonly startTime: string;
  /** JSON of the runner's own shape; null keeps the handle already recorded. */
  readonly handle: unknown;
}

export interface Ending {
  readonly status: TerminalStatus;
  readonly reason: string | null;
  readonly exit: ExitStatus | null;
  readonly at: number;
  /** Who runs the cleanup that the winner of this transition owns. */
  readonly claim: CleanupClaim;
}

/**
 * An agent's run, as its row records it: the process launched (its identity), its runner's handle
 * for it, its exit, and the terminal transition, which also claims the cleanup.
 */
export class AgentRuns {
  private readonly recordLaunchStmt;
  private readonly recordHandleStmt;
  private readonly recordExitStmt;
  private readonly endStmts: ReadonlyMap<TerminalStatus, ReturnType<Db["prepare"]>>;
  private readonly guard: WriteGuard;

  constructor(db: Db, guard: WriteGuard) {
    this.guard = guard;
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
    // One UPDATE per terminal status, from the states the agent table allows it from; the
    // cleanup claim rides on it (CLEANUP_MOVES.claim), so its winner alone runs the cleanup.
    this.endStmts = new Map(
      TERMINAL_STATUSES.map((to) => [
        to,
        db.prepare(
          `UPDATE agents SET status = ${literal(to)}, reason = COALESCE(reason, @reason),
             exit_code = COALESCE(exit_code, @exitCode), exit_signal = COALESCE(exit_signal, @exitSignal),
             ended_at = @at, cleanup_status = ${literal(CLEANUP_MOVES.claim.to)}, cleanup_claim = @claim,
             cleanup_attempts = cleanup_attempts + 1
           WHERE id = @id AND status IN ${literalList(sourcesOf(to))}`,
        ),
      ]),
    );
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
        claim: formatCleanupClaim(ending.claim),
      });
    return this.guard(run).changes === 1;
  }
}
