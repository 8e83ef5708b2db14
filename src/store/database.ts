import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import { describeHolders, writeLockHolders } from "./lock-holder.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";

export type Db = Database.Database;

/**
 * How long one write waits for another process's write lock. better-sqlite3 is synchronous:
 * the wait blocks the event loop, so it is short. Any process can hold the lock for as long as
 * it likes (`BEGIN EXCLUSIVE` in the sqlite3 shell); callers that can wait do so between
 * attempts, with the event loop free (see Store.writeSoon), and the others answer DB_BUSY.
 */
export const BUSY_TIMEOUT_MS = 50;

/**
 * Opens (and creates or migrates) the store. WAL lets readers run beside the one writer, so
 * reads never wait for a lock; busy_timeout makes a writer wait briefly for another process
 * instead of failing at once; NORMAL sync is durable across application crashes, which is the
 * failure corral must survive.
 */
export function openDatabase(path: string): Result<Db> {
  let db: Db;
  try {
    keepPrivate(path);
    db = new Database(path);
  } catch (cause) {
    return fail("DB_UNAVAILABLE", `cannot open the database ${path}: ${describeUnknown(cause)}`);
  }
  const prepared = prepare(db, path);
  if (!prepared.ok) db.close();
  return prepared;
}

/**
 * The database holds prompts and task context. SQLite creates it 0644, and its -wal and -shm
 * files with the database file's mode: creating the file 0600 first keeps all three private.
 * A database an older corral made is narrowed too, with whatever -wal and -shm it left.
 */
function keepPrivate(path: string): void {
  try {
    closeSync(openSync(path, "a", 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        chmodSync(file, 0o600);
      } catch (cause) {
        if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
      }
    }
  } catch (cause) {
    // On a read-only file system nothing can be written, and SQLite's own refusal, which
    // follows, says so in the terms a user acts on.
    if ((cause as { code?: unknown }).code !== "EROFS") throw cause;
  }
}

function prepare(db: Db, path: string): Result<Db> {
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      return fail(
        "DB_NEWER_THAN_CODE",
        `the database ${path} has schema version ${version}, newer than this corral understands (${SCHEMA_VERSION}); upgrade corral or point CORRAL_HOME elsewhere — nothing was changed`,
      );
    }
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db, version);
    return ok(db);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === "SQLITE_BUSY") {
      return fail("DB_BUSY", `the database ${path} needs migrating, but another process holds its write lock: ${describeHolders(writeLockHolders(path))}; retry once it lets go, or stop it if it is stuck — nothing was changed`);
    }
    if (code === "SQLITE_READONLY" || code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY_DIRECTORY") {
      return fail(
        "DB_UNAVAILABLE",
        `the database ${path} cannot be written (${describeUnknown(cause)}): is the state dir read-only? corral needs to write there — nothing was changed`,
      );
    }
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
      return fail("DB_CORRUPT", `the database ${path} is not a corral database or is damaged (${describeUnknown(cause)}); move it aside — nothing was changed`);
    }
    return fail("DB_UNAVAILABLE", `cannot use the database ${path}: ${describeUnknown(cause)}`);
  }
}

function migrate(db: Db, from: number): void {
  for (let version = from; version < SCHEMA_VERSION; version += 1) {
    const sql = MIGRATIONS[version] as string;
    db.transaction(() => {
      // Another process may have migrated while this one waited for the write lock.
      const current = db.pragma("user_version", { simple: true }) as number;
      if (current !== version) return;
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

/**
 * Whether an error means the database cannot be written right now, though it may be later:
 * another process holds the write lock (BUSY, LOCKED), the disk is full, or the file or its
 * directory is read-only. Such a write is retried; any other error is a bug or damage.
 */
export function isUnwritable(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return ["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY"].some((prefix) => code === prefix || code.startsWith(`${prefix}_`));
}
