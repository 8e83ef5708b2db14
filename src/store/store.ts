import { ok, type Result } from "../domain/errors.js";
import { AgentTable } from "./agents.js";
import { CleanupStepTable } from "./cleanup-steps.js";
import { openDatabase, type Db } from "./database.js";
import { EventTable } from "./events.js";
import { unguarded, type WriteGuard } from "./guard.js";
import { TaskTable } from "./tasks.js";

/** The single source of truth. Nothing outside store/ touches the database. */
export class Store {
  readonly tasks: TaskTable;
  readonly agents: AgentTable;
  readonly events: EventTable;
  readonly cleanupSteps: CleanupStepTable;
  private readonly db: Db;

  private constructor(db: Db, guard: WriteGuard) {
    this.db = db;
    this.tasks = new TaskTable(db);
    this.agents = new AgentTable(db, guard);
    this.events = new EventTable(db, guard);
    this.cleanupSteps = new CleanupStepTable(db, guard);
  }

  /** `guard` wraps the writes that record an agent's end, events and cleanup (see WriteGuard). */
  static open(path: string, guard: WriteGuard = unguarded): Result<Store> {
    const db = openDatabase(path);
    if (!db.ok) return db;
    return ok(new Store(db.value, guard));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
