import type { TaskId } from "../domain/ids.js";
import type { Db } from "./database.js";
import { TaskRowSchema, type TaskRecord } from "./records.js";

export interface NewTask {
  readonly id: TaskId;
  readonly description: string;
  readonly priority: string;
  readonly context: Record<string, unknown>;
  readonly workspace: string;
  readonly createdAt: number;
}

export class TaskTable {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly listStmt;
  private readonly pageStmt;
  private readonly pageAfterStmt;
  private readonly countStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO tasks (id, description, priority, context, workspace, created_at)
       VALUES (@id, @description, @priority, @context, @workspace, @createdAt)`,
    );
    this.getStmt = db.prepare(`SELECT * FROM tasks WHERE id = ?`);
    this.listStmt = db.prepare(`SELECT * FROM tasks ORDER BY created_at DESC, id DESC`);
    this.pageStmt = db.prepare(`SELECT * FROM tasks ORDER BY created_at DESC, id DESC LIMIT @limit`);
    this.pageAfterStmt = db.prepare(`SELECT * FROM tasks WHERE (created_at, id) < (@createdAt, @id) ORDER BY created_at DESC, id DESC LIMIT @limit`);
    this.countStmt = db.prepare(`SELECT COUNT(*) FROM tasks`).pluck();
  }

  insert(task: NewTask): TaskRecord {
    this.insertStmt.run({ ...task, context: JSON.stringify(task.context) });
    return this.get(task.id) as TaskRecord;
  }

  get(id: TaskId): TaskRecord | null {
    const row = this.getStmt.get(id);
    return row === undefined ? null : TaskRowSchema.parse(row);
  }

  list(): TaskRecord[] {
    return this.listStmt.all().map((row) => TaskRowSchema.parse(row));
  }

  /** One page of the tasks, newest first, after the task of this (created_at, id). */
  page(after: { readonly createdAt: number; readonly id: string } | null, limit: number): TaskRecord[] {
    const rows = after === null ? this.pageStmt.all({ limit }) : this.pageAfterStmt.all({ limit, ...after });
    return rows.map((row) => TaskRowSchema.parse(row));
  }

  count(): number {
    return this.countStmt.get() as number;
  }
}
