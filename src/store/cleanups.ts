import { CLEANUP_MOVES, formatCleanupClaim, type ClaimHeld, type CleanupClaim, type CleanupOutcome, type CleanupStatus } from "../domain/cleanup-state.js";
import type { AgentId } from "../domain/ids.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";
import { AgentRowSchema, type AgentRecord } from "./records.js";
import { literal } from "./sql.js";

const { takeOver, done, retry } = CLEANUP_MOVES;

/** The condition on the row's claim that a move needs: `@stale` is the claim found, `@claim` the caller's. */
const CLAIM_HELD: Readonly<Record<ClaimHeld, string>> = {
  none: "",
  stale: " AND cleanup_claim IS @stale",
  own: " AND cleanup_claim = @claim",
};

/**
 * Cleanup claims and outcomes on the agent rows. Each move of CLEANUP_MOVES is one conditional
 * UPDATE, true for exactly one caller; the claim itself is made by the terminal transition
 * (AgentRuns.end).
 */
export class CleanupClaims {
  private readonly runningStmt;
  private readonly partialStmt;
  private readonly takeOverStmt;
  private readonly retryStmt;
  private readonly finishStmt;
  private readonly countsStmt;
  private readonly guard: WriteGuard;

  constructor(db: Db, guard: WriteGuard) {
    this.guard = guard;
    this.runningStmt = db.prepare(`SELECT * FROM agents WHERE cleanup_status = ${literal("running")} ORDER BY ended_at`);
    this.partialStmt = db.prepare(`SELECT * FROM agents WHERE cleanup_status = ${literal("partial")} ORDER BY ended_at`);
    this.takeOverStmt = db.prepare(
      `UPDATE agents SET cleanup_claim = @claim, cleanup_attempts = cleanup_attempts + 1
       WHERE id = @id AND cleanup_status = ${literal(takeOver.from)}${CLAIM_HELD[takeOver.held]}`,
    );
    this.retryStmt = db.prepare(
      `UPDATE agents SET cleanup_status = ${literal(retry.to)}, cleanup_claim = ?, cleanup_attempts = cleanup_attempts + 1
       WHERE id = ? AND cleanup_status = ${literal(retry.from)}${CLAIM_HELD[retry.held]}`,
    );
    // done and partial need the same claim (the caller's): one statement ends the cleanup either way.
    this.finishStmt = db.prepare(
      `UPDATE agents SET cleanup_status = @outcome, cleanup_claim = NULL,
         cleaned_at = CASE WHEN @outcome = ${literal(done.to)} THEN @at ELSE cleaned_at END
       WHERE id = @id${CLAIM_HELD[done.held]}`,
    );
    this.countsStmt = db.prepare(`SELECT cleanup_status AS status, COUNT(*) AS n FROM agents GROUP BY cleanup_status`);
  }

  /** Agents whose cleanup someone has claimed and not finished. */
  running(): AgentRecord[] {
    return this.runningStmt.all().map((row) => AgentRowSchema.parse(row));
  }

  /** Agents whose cleanup left a step failed, oldest first. */
  partial(): AgentRecord[] {
    return this.partialStmt.all().map((row) => AgentRowSchema.parse(row));
  }

  /** Takes over a cleanup whose claimer died mid-way; true for exactly one caller. */
  takeOver(id: AgentId, stale: CleanupClaim | null, claim: CleanupClaim): boolean {
    return this.takeOverStmt.run({ id, stale: stale === null ? null : formatCleanupClaim(stale), claim: formatCleanupClaim(claim) }).changes === 1;
  }

  /** Claims a partial cleanup again, to run its failed steps; true for exactly one caller. */
  retry(id: AgentId, claim: CleanupClaim): boolean {
    return this.retryStmt.run(formatCleanupClaim(claim), id).changes === 1;
  }

  /** Ends the cleanup `claim` holds; false when the claim is not (or no longer) on the row. */
  finish(id: AgentId, claim: CleanupClaim, outcome: CleanupOutcome, at: number): boolean {
    return this.guard(() => this.finishStmt.run({ id, claim: formatCleanupClaim(claim), outcome, at })).changes === 1;
  }

  /** How many agents are in each cleanup state. */
  counts(): Partial<Record<CleanupStatus, number>> {
    const rows = this.countsStmt.all() as { status: CleanupStatus; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }
}
