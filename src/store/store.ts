import { statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { describeUnknown, fail, ok, type CorralError, type Result } from "../domain/errors.js";
import { AgentTable } from "./agents.js";
import { CleanupStepTable } from "./cleanup-steps.js";
import { CleanupClaims } from "./cleanups.js";
import { BUSY_TIMEOUT_MS, isUnwritable, openDatabase, type Db } from "./database.js";
import { EventTable } from "./events.js";
import { AgentFlags } from "./flags.js";
import { unguarded, type WriteGuard } from "./guard.js";
import { describeHolders, writeLockHolders, type LockHolder } from "./lock-holder.js";
import { AgentOutcomes } from "./outcomes.js";
import { Ownership } from "./ownership.js";
import { AgentRuns } from "./runs.js";
import { StreamTotals } from "./streams.js";
import { AgentSummaries } from "./summaries.js";
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
/** Between two attempts at a write the database refused, the event loop is free. */
const RETRY_MS = 25;
/**
 * For this long after a refusal, a write first asks whether the lock is free (without
 * waiting) and fails at once if not: several calls arriving together while another process
 * holds the lock would otherwise each block the event loop for BUSY_TIMEOUT_MS in turn.
 */
const REFUSED_RECENTLY_MS = 1000;

/**
 * The single source of truth. Nothing outside store/ touches the database. The agent row has
 * many concerns; each has a module of its own, all over the same table.
 */
export class Store {
  readonly tasks: TaskTable;
  /** Rows inserted under the limits, slots, and full rows by id, task, parent or token. */
  readonly agents: AgentTable;
  /** What status views read: the summary columns. */
  readonly summaries: AgentSummaries;
  /** Launch, process identity, runner handle, exit and the terminal transition. */
  readonly runs: AgentRuns;
  /** Who owns each live agent, and adoption. */
  readonly ownership: Ownership;
  /** Stream offsets and running totals. */
  readonly streams: StreamTotals;
  /** Cleanup claims, takeovers, retries and outcomes. */
  readonly cleanups: CleanupClaims;
  /** Claimed done, stuck, near a limit. */
  readonly flags: AgentFlags;
  /** Validation, archive and transcript of an ended agent. */
  readonly outcomes: AgentOutcomes;
  readonly events: EventTable;
  readonly cleanupSteps: CleanupStepTable;
  readonly path: string;
  private readonly db: Db;
  /** The database file this store opened; see lost(). */
  private readonly file: FileIdentity | null;
  private refusedAt = Number.NEGATIVE_INFINITY;
  private readonly totalChangesStmt;

  private constructor(db: Db, path: string, guard: WriteGuard) {
    this.db = db;
    this.path = path;
    this.file = fileIdentity(path);
    this.tasks = new TaskTable(db);
    this.agents = new AgentTable(db, guard);
    this.summaries = new AgentSummaries(db);
    this.runs = new AgentRuns(db, guard);
    this.ownership = new Ownership(db);
    this.streams = new StreamTotals(db, guard);
    this.cleanups = new CleanupClaims(db, guard);
    this.flags = new AgentFlags(db);
    this.outcomes = new AgentOutcomes(db, guard);
    this.events = new EventTable(db, guard);
    this.cleanupSteps = new CleanupStepTable(db, guard);
    this.totalChangesStmt = db.prepare("SELECT total_changes()").pluck();
  }

  /** `guard` wraps the writes that record an agent's end, events and cleanup (see WriteGuard). */
  static open(path: string, guard: WriteGuard = unguarded): Result<Store> {
    const db = openDatabase(path);
    if (!db.ok) return db;
    return ok(new Store(db.value, path, guard));
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

  /**
   * A mark that moves whenever the database changed: a commit by another connection (SQLite's
   * data_version) or a row changed through this one (total_changes). Equal marks mean nothing
   * was written in between, so what was read then still holds; two integers, read in a
   * microsecond or two.
   */
  changeMark(): string {
    return `${this.db.pragma("data_version", { simple: true }) as number}:${this.totalChangesStmt.get() as number}`;
  }

  /** Writes a consistent copy of the open database to `target`, which must not exist. */
  copyTo(target: string): void {
    this.db.prepare("VACUUM INTO ?").run(target);
  }

  /**
   * Whether the write lock can be had right now, asked without waiting (busy_timeout 0 for one
   * BEGIN IMMEDIATE): background work checks this before it writes, so that a held lock costs
   * it nothing instead of a busy wait on the event loop per write.
   */
  writableNow(): boolean {
    if (!this.db.open) return false;
    this.db.pragma("busy_timeout = 0");
    try {
      this.db.exec("BEGIN IMMEDIATE");
      this.db.exec("ROLLBACK");
      return true;
    } catch (cause) {
      if (isUnwritable(cause)) return false;
      throw cause;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /** Who holds this database's write lock, besides this process (empty when no one, or unknown). */
  lockHolders(): LockHolder[] {
    return writeLockHolders(this.path);
  }

  /** The error a call answers when the database refused a write: what holds it, and what to do. */
  unwritableError(cause: unknown): CorralError {
    const code = String((cause as { code?: unknown } | null)?.code ?? "");
    if (code.startsWith("SQLITE_FULL")) {
      return { code: "DB_UNAVAILABLE", message: `the disk under ${this.path} is full: nothing can be recorded now; free some space (corral gc) and retry` };
    }
    if (code.startsWith("SQLITE_READONLY")) {
      return { code: "DB_UNAVAILABLE", message: `the database ${this.path} is read-only (${describeUnknown(cause)}): nothing can be recorded; make the state dir writable and retry` };
    }
    return this.lockedError();
  }

  /** DB_BUSY: who holds the write lock, what it means, and what to do. */
  lockedError(): CorralError {
    const holders = this.lockHolders();
    const stop = holders.length === 0 ? "" : ` or stop it (kill ${holders.map((h) => h.pid).join(" ")}) if it is stuck`;
    return {
      code: "DB_BUSY",
      message: `the database ${this.path} is locked: ${describeHolders(holders)} holds its write lock, so nothing can be recorded now; agents keep running, and their ends are kept and recorded once it lets go. Retry later${stop}`,
    };
  }

  /** Runs a write once; a refusal (see isUnwritable) becomes DB_BUSY or DB_UNAVAILABLE. */
  writeNow<T>(write: () => T): Result<T> {
    if (!this.mayWrite()) return fail(...errorParts(this.lockedError()));
    try {
      return ok(write());
    } catch (cause) {
      if (!isUnwritable(cause)) throw cause;
      this.refusedAt = Date.now();
      return fail(...errorParts(this.unwritableError(cause)));
    }
  }

  /** False only when a write was refused lately and the lock is still held: no need to wait for it. */
  private mayWrite(): boolean {
    if (Date.now() - this.refusedAt > REFUSED_RECENTLY_MS) return true;
    if (this.writableNow()) {
      this.refusedAt = Number.NEGATIVE_INFINITY;
      return true;
    }
    return false;
  }

  /**
   * Runs a write, and while the database refuses it, tries again every RETRY_MS with the event
   * loop free, until `deadline` (ms since the epoch) or until `stop()` says to give up: then the
   * answer is the error of the last refusal. Each attempt blocks for at most BUSY_TIMEOUT_MS.
   */
  async writeSoon<T>(write: () => T, deadline: number, stop: () => boolean = () => false): Promise<Result<T>> {
    for (;;) {
      if (!this.db.open) return fail("DB_UNAVAILABLE", `the database ${this.path} is closed: corral is shutting down`);
      let refusal: unknown = null;
      if (this.mayWrite()) {
        try {
          return ok(write());
        } catch (cause) {
          if (!isUnwritable(cause)) throw cause;
          this.refusedAt = Date.now();
          refusal = cause;
        }
      }
      if (Date.now() >= deadline || stop()) return fail(...errorParts(refusal === null ? this.lockedError() : this.unwritableError(refusal)));
      await sleep(RETRY_MS);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

const errorParts = (error: CorralError): [CorralError["code"], string] => [error.code, error.message];
