import type { AgentId, TaskId } from "../domain/ids.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";
import { EventRowSchema, type EventKind, type EventRecord } from "./records.js";

export interface NewEvent {
  readonly taskId: TaskId;
  readonly agentId: AgentId;
  readonly kind: EventKind;
  readonly at: number;
  readonly data: Record<string, unknown>;
  /** For progress events: the agent's latest percentage and message, kept on its row. */
  readonly progress?: number | null;
  readonly message?: string | null;
}

export class EventTable {
  private readonly appendTx;
  private readonly byAgentStmt;
  private readonly byTaskStmt;
  private readonly latestStmt;
  private readonly newestStmt;
  private readonly countsStmt;

  constructor(db: Db, guard: WriteGuard) {
    const insert = db.prepare(
      `INSERT INTO events (task_id, agent_id, kind, at, data) VALUES (?, ?, ?, ?, ?)`,
    );
    const bumpAgent = db.prepare(
      `UPDATE agents SET event_count = event_count + 1, last_event_at = ?,
         progress = COALESCE(?, progress), last_message = COALESCE(?, last_message)
       WHERE id = ? AND task_id = ?`,
    );
    const bumpTask = db.prepare(`UPDATE tasks SET event_count = event_count + 1 WHERE id = ?`);
    // The event and both counters move together or not at all.
    const append = db.transaction((event: NewEvent): number | null => {
      const bumped = bumpAgent.run(event.at, event.progress ?? null, event.message ?? null, event.agentId, event.taskId);
      if (bumped.changes !== 1) return null;
      bumpTask.run(event.taskId);
      const inserted = insert.run(event.taskId, event.agentId, event.kind, event.at, JSON.stringify(event.data));
      return Number(inserted.lastInsertRowid);
    });
    this.appendTx = (event: NewEvent) => guard(() => append.immediate(event));
    this.byAgentStmt = db.prepare(`SELECT * FROM events WHERE agent_id = ? AND id > ? ORDER BY id LIMIT ?`);
    this.byTaskStmt = db.prepare(`SELECT * FROM events WHERE task_id = ? AND id > ? ORDER BY id LIMIT ?`);
    this.latestStmt = db.prepare(`SELECT * FROM events WHERE task_id = ? AND kind = ? ORDER BY id DESC LIMIT ?`);
    this.newestStmt = db.prepare(`SELECT * FROM (SELECT * FROM events WHERE task_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id`);
    this.countsStmt = db.prepare(`SELECT kind, COUNT(*) AS n FROM events WHERE agent_id = ? GROUP BY kind`);
  }

  /** The new event's id, or null when no such agent exists in that task. */
  append(event: NewEvent): number | null {
    return this.appendTx(event);
  }

  forAgent(agentId: AgentId, afterId = 0, limit = 10_000): EventRecord[] {
    return this.byAgentStmt.all(agentId, afterId, limit).map((row) => EventRowSchema.parse(row));
  }

  forTask(taskId: TaskId, afterId = 0, limit = 10_000): EventRecord[] {
    return this.byTaskStmt.all(taskId, afterId, limit).map((row) => EventRowSchema.parse(row));
  }

  /** The task's newest events of one kind, newest first. */
  /** The task's newest `limit` events of every kind, oldest first. */
  newestForTask(taskId: TaskId, limit: number): EventRecord[] {
    return this.newestStmt.all(taskId, limit).map((row) => EventRowSchema.parse(row));
  }

  latest(taskId: TaskId, kind: EventKind, limit: number): EventRecord[] {
    return this.latestStmt.all(taskId, kind, limit).map((row) => EventRowSchema.parse(row));
  }

  /** How many events of each kind the agent has. */
  countsFor(agentId: AgentId): Partial<Record<EventKind, number>> {
    const rows = this.countsStmt.all(agentId) as { kind: EventKind; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
  }
}
