import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";

export type Db = Database.Database;

/**
 * Opens (and creates or migrates) the store. WAL lets readers run beside the one writer;
 * busy_timeout makes a writer wait for another process instead of failing; NORMAL sync is
 * durable across application crashes, which is the failure corral must survive.
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
    db.pragma("busy_timeout = 10000");
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
