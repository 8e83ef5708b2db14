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

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO tasks (id, description, priority, context, workspace, created_at)
       VALUES (@id, @description, @priority, @context, @workspace, @createdAt)`,
    );
    this.getStmt = db.prepare(`SELECT * FROM tasks WHERE id = ?`);
    this.listStmt = db.prepare(`SELECT * FROM tasks ORDER BY created_at DESC, id DESC`);
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
}
