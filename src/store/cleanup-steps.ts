import type { AgentId } from "../domain/ids.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";
import { CleanupStepRowSchema, type CleanupStepRecord, type StepOutcome } from "./records.js";

export interface NewCleanupStep {
  readonly agentId: AgentId;
  readonly attempt: number;
  readonly step: string;
  readonly outcome: StepOutcome;
  readonly detail: Record<string, unknown>;
  readonly error: string | null;
  readonly startedAt: number;
  readonly durationMs: number;
}

export class CleanupStepTable {
  private readonly insertStmt;
  private readonly guard: WriteGuard;
  private readonly byAgentStmt;
  private readonly durationsStmt;
  private readonly failuresStmt;

  constructor(db: Db, guard: WriteGuard) {
    this.guard = guard;
    this.insertStmt = db.prepare(
      `INSERT INTO cleanup_steps (agent_id, attempt, step, outcome, detail, error, started_at, duration_ms)
       VALUES (@agentId, @attempt, @step, @outcome, @detail, @error, @startedAt, @durationMs)`,
    );
    this.byAgentStmt = db.prepare(`SELECT * FROM cleanup_steps WHERE agent_id = ? ORDER BY id`);
    this.durationsStmt = db.prepare(
      `SELECT SUM(duration_ms) AS ms FROM (SELECT * FROM cleanup_steps ORDER BY id DESC LIMIT ?)
       GROUP BY agent_id, attempt ORDER BY ms`,
    );
    this.failuresStmt = db.prepare(
      `SELECT step, COUNT(*) AS n FROM (SELECT * FROM cleanup_steps ORDER BY id DESC LIMIT ?)
       WHERE outcome = 'failed' GROUP BY step ORDER BY n DESC`,
    );
  }

  record(step: NewCleanupStep): void {
    this.guard(() => this.insertStmt.run({ ...step, detail: JSON.stringify(step.detail) }));
  }

  /** Durations (ms) of the cleanup attempts among the latest `steps` step rows, ascending. */
  recentDurations(steps: number): number[] {
    return (this.durationsStmt.all(steps) as { ms: number }[]).map((r) => r.ms);
  }

  /** How often each step failed among the latest `steps` step rows. */
  recentFailures(steps: number): Record<string, number> {
    const rows = this.failuresStmt.all(steps) as { step: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.step, r.n]));
  }

  forAgent(agentId: AgentId): CleanupStepRecord[] {
    return this.byAgentStmt.all(agentId).map((row) => CleanupStepRowSchema.parse(row));
  }
}
