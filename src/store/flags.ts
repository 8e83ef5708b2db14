import type { AgentId } from "../domain/ids.js";
import type { Db } from "./database.js";

/**
 * What is said about a running agent besides its status, and shown as flags: it claimed to be
 * done, it looks stuck, it is near a resource limit.
 */
export class AgentFlags {
  private readonly claimDoneStmt;
  private readonly markStuckStmt;
  private readonly clearStuckStmt;
  private readonly limitWarningsStmt;

  constructor(db: Db) {
    this.claimDoneStmt = db.prepare(`UPDATE agents SET claimed_done = 1 WHERE id = ?`);
    this.markStuckStmt = db.prepare(`UPDATE agents SET stuck_since = ? WHERE id = ? AND stuck_since IS NULL`);
    this.clearStuckStmt = db.prepare(`UPDATE agents SET stuck_since = NULL WHERE id = ?`);
    this.limitWarningsStmt = db.prepare(`UPDATE agents SET limit_warnings = ? WHERE id = ?`);
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
}
