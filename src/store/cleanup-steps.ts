import type { AgentId } from "../domain/ids.js";
import type { Db } from "./database.js";
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
  private readonly byAgentStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO cleanup_steps (agent_id, attempt, step, outcome, detail, error, started_at, duration_ms)
       VALUES (@agentId, @attempt, @step, @outcome, @detail, @error, @startedAt, @durationMs)`,
    );
    this.byAgentStmt = db.prepare(`SELECT * FROM cleanup_steps WHERE agent_id = ? ORDER BY id`);
  }

  record(step: NewCleanupStep): void {
    this.insertStmt.run({ ...step, detail: JSON.stringify(step.detail) });
  }

  forAgent(agentId: AgentId): CleanupStepRecord[] {
    return this.byAgentStmt.all(agentId).map((row) => CleanupStepRowSchema.parse(row));
  }
}
