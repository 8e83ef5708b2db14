import { readFileSync, statSync } from "node:fs";

/** A process that holds SQLite's write lock on a database, as /proc shows it. */
export interface LockHolder {
  readonly pid: number;
  /** Its command name (/proc/<pid>/comm), or null when it cannot be read. */
  readonly command: string | null;
}

/**
 * SQLite takes POSIX byte-range locks (fcntl), which /proc/locks lists with the owner's pid and
 * the file's device and inode. In WAL mode the one writer holds an exclusive lock on byte 120
 * of the `-shm` file (WAL_WRITE_LOCK); in rollback mode a writer holds the database file's
 * RESERVED byte (0x40000001) and, when committing, its PENDING byte (0x40000000).
 */
const WAL_WRITE_LOCK_BYTE = 120;
const PENDING_BYTE = 0x40000000;
const RESERVED_BYTE = 0x40000001;

interface FileId {
  readonly major: number;
  readonly minor: number;
  readonly inode: number;
}

interface LockLine {
  readonly pid: number;
  readonly write: boolean;
  readonly file: FileId;
  readonly start: number;
  readonly end: number;
}

/** One line of /proc/locks, e.g. `5: POSIX  ADVISORY  WRITE 18687 fe:00:2147792 120 120`. */
export function parseLockLine(line: string): LockLine | null {
  // A blocked waiter's line starts with "N: ->"; it holds nothing.
  const match = /^\d+:\s+POSIX\s+\S+\s+(READ|WRITE)\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s+(\d+)\s+(\d+|EOF)\s*$/.exec(line);
  if (match === null) return null;
  const [, mode, pid, major, minor, inode, start, end] = match as unknown as string[];
  return {
    pid: Number(pid),
    write: mode === "WRITE",
    file: { major: parseInt(major as string, 16), minor: parseInt(minor as string, 16), inode: Number(inode) },
    start: Number(start),
    end: end === "EOF" ? Number.MAX_SAFE_INTEGER : Number(end),
  };
}

const covers = (lock: LockLine, byte: number): boolean => lock.start <= byte && byte <= lock.end;

/** The pids (other than `self`) whose write locks in `locks` mean they hold the database's write lock. */
export function writeLockPids(locks: string, db: FileId | null, shm: FileId | null, self: number): number[] {
  const same = (a: FileId, b: FileId | null): boolean =>
    b !== null && a.inode === b.inode && a.major === b.major && a.minor === b.minor;
  const pids = new Set<number>();
  for (const line of locks.split("\n")) {
    const lock = parseLockLine(line);
    if (lock === null || !lock.write || lock.pid === self || lock.pid <= 0) continue;
    if (same(lock.file, shm) && covers(lock, WAL_WRITE_LOCK_BYTE)) pids.add(lock.pid);
    if (same(lock.file, db) && (covers(lock, RESERVED_BYTE) || covers(lock, PENDING_BYTE))) pids.add(lock.pid);
  }
  return [...pids].sort((a, b) => a - b);
}

function fileId(path: string): FileId | null {
  try {
    const stats = statSync(path);
    // Linux's dev_t: the minor number's low 8 bits, then 12 bits of major, then the rest of the minor.
    const dev = stats.dev;
    return { major: (dev >> 8) & 0xfff, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00), inode: stats.ino };
  } catch (cause) {
    // No -shm file means no WAL writer can exist; no database means no lock at all.
    if ((cause as { code?: unknown }).code === "ENOENT") return null;
    throw cause;
  }
}

function commandOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch (cause) {
    // It may have let go and exited since /proc/locks was read, or be another user's.
    const code = (cause as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ESRCH" || code === "EACCES") return null;
    throw cause;
  }
}

/**
 * The processes holding the write lock of the database at `dbPath`, besides this one. Empty
 * when none does, or when /proc/locks cannot be read (then the holder is simply not known).
 */
export function writeLockHolders(dbPath: string): LockHolder[] {
  let locks: string;
  try {
    locks = readFileSync("/proc/locks", "utf8");
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT" || (cause as { code?: unknown }).code === "EACCES") return [];
    throw cause;
  }
  const pids = writeLockPids(locks, fileId(dbPath), fileId(`${dbPath}-shm`), process.pid);
  return pids.map((pid) => ({ pid, command: commandOf(pid) }));
}

/** "pid 123 (sqlite3)", "pids 1 (a), 2 (b)", or "another process (its pid is not known)". */
export function describeHolders(holders: readonly LockHolder[]): string {
  if (holders.length === 0) return "another process (/proc/locks does not show which)";
  const named = holders.map((h) => `${h.pid}${h.command === null ? "" : ` (${h.command})`}`);
  return `${holders.length === 1 ? "pid" : "pids"} ${named.join(", ")}`;
}
