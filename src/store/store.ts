import { statSync } from "node:fs";
import { ok, type Result } from "../domain/errors.js";
import { AgentTable } from "./agents.js";
import { CleanupStepTable } from "./cleanup-steps.js";
import { openDatabase, type Db } from "./database.js";
import { EventTable } from "./events.js";
import { unguarded, type WriteGuard } from "./guard.js";
import { TaskTable } from "./tasks.js";

interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

function fileIdentity(path: string): FileIdentity | null {
  try {
    const stat = statSync(path);
    return { dev: stat.dev, ino: stat.ino };
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return null;
    throw cause;
  }
}

/** The single source of truth. Nothing outside store/ touches the database. */
export class Store {
  readonly tasks: TaskTable;
  readonly agents: AgentTable;
  readonly events: EventTable;
  readonly cleanupSteps: CleanupStepTable;
  private readonly db: Db;
  /** The database file this store opened; see lost(). */
  private readonly file: FileIdentity | null;

  private constructor(
    db: Db,
    guard: WriteGuard,
    readonly path: string,
  ) {
    this.db = db;
    this.file = fileIdentity(path);
    this.tasks = new TaskTable(db);
    this.agents = new AgentTable(db, guard);
    this.events = new EventTable(db, guard);
    this.cleanupSteps = new CleanupStepTable(db, guard);
  }

  /** `guard` wraps the writes that record an agent's end, events and cleanup (see WriteGuard). */
  static open(path: string, guard: WriteGuard = unguarded): Result<Store> {
    const db = openDatabase(path);
    if (!db.ok) return db;
    return ok(new Store(db.value, guard, path));
  }

  /**
   * Why the file at the store's path is no longer the database this store writes, or null
   * while it is. A database deleted or replaced underneath keeps working through the open
   * handle, into a file nobody else can see: every write after that would be lost.
   */
  lost(): string | null {
    const now = fileIdentity(this.path);
    if (now === null) return `${this.path} was deleted`;
    if (this.file !== null && (now.dev !== this.file.dev || now.ino !== this.file.ino)) return `${this.path} was replaced by another file`;
    return null;
  }

  /** Writes a consistent copy of the open database to `target`, which must not exist. */
  copyTo(target: string): void {
    this.db.prepare("VACUUM INTO ?").run(target);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
