import type { AgentId, TaskId } from "../domain/ids.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";

export interface ArchivedAgent {
  readonly id: AgentId;
  readonly taskId: TaskId;
  readonly path: string;
  readonly endedAt: number | null;
  readonly transcriptPath: string | null;
}

/**
 * What an ended agent leaves, as cleanup records it and retention removes it: the validation
 * of its evidence, its archived log and its CLI's transcript.
 */
export class AgentOutcomes {
  private readonly setValidationStmt;
  private readonly setArchiveStmt;
  private readonly setTranscriptStmt;
  private readonly archivedStmt;
  private readonly guard: WriteGuard;

  constructor(db: Db, guard: WriteGuard) {
    this.guard = guard;
    this.setValidationStmt = db.prepare(`UPDATE agents SET validation = ? WHERE id = ?`);
    this.setArchiveStmt = db.prepare(`UPDATE agents SET archive_path = ? WHERE id = ?`);
    this.setTranscriptStmt = db.prepare(`UPDATE agents SET transcript_path = ? WHERE id = ?`);
    this.archivedStmt = db.prepare(
      `SELECT id, task_id AS taskId, archive_path AS path, ended_at AS endedAt, transcript_path AS transcriptPath FROM agents
       WHERE archive_path IS NOT NULL ORDER BY ended_at, id`,
    );
  }

  setValidation(id: AgentId, validation: unknown): void {
    this.guard(() => this.setValidationStmt.run(JSON.stringify(validation), id));
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
}
