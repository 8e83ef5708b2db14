import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import * as z from "zod";
import { describeUnknown } from "../domain/errors.js";
import { stateDirKey } from "../domain/paths.js";
import { removeEmptyDirs } from "./empty-dirs.js";

/**
 * An agent's end that the database refused (another process held its write lock, the disk was
 * full, the file read-only): what ended it, its exit status when one was seen, and what was
 * stopped meanwhile. Kept on disk until the database takes it, so that it survives this
 * process too: whichever corral next finds the database writable records it.
 */
export const PendingEndingSchema = z
  .object({
    kind: z.literal("ending"),
    agentId: z.string().min(1),
    status: z.enum(["completed", "failed", "killed", "crashed", "timed_out"]),
    reason: z.string().nullable(),
    exit: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("exited"), code: z.number().int() }),
      z.object({ kind: z.literal("signalled"), signal: z.string() }),
    ]).nullable(),
    at: z.number().int(),
    /** The agent's processes stopped while nothing could be recorded; null until that is done. */
    stopped: z.object({ signalled: z.array(z.number().int()), survivors: z.array(z.number().int()) }).nullable(),
  })
  .strict();
export type PendingEnding = z.infer<typeof PendingEndingSchema>;

export interface PendingEntry {
  /** The file's name in the journal directory. */
  readonly name: string;
  readonly record: PendingEnding;
}

/**
 * The journal of records waiting for the database: one file per record (0600, in a 0700
 * directory of the state dir), written to a temporary name, fsynced and renamed, so a reader
 * never sees half a record. Whoever records one deletes it; two corrals replaying the same
 * record are harmless, since an agent's end is a conditional UPDATE that only one wins.
 * When the state dir refuses the record (its disk is full, it is read-only), it goes to the
 * spare directory, on another file system (RAM, under /dev/shm), where the next corral on this
 * state dir finds it too; when that fails as well, it is kept in memory and replayed by this
 * process alone.
 */
export class PendingRecords {
  private readonly inMemory = new Map<string, PendingEnding>();

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
    /** Where records go when `dir` refuses them; null for none. */
    readonly spare: string | null = null,
  ) {}

  private dirs(): string[] {
    return this.spare === null ? [this.dir] : [this.dir, this.spare];
  }

  /** Resolves once the record is on disk (or, failing that, in memory). */
  async add(record: PendingEnding): Promise<string> {
    const name = `${record.agentId}.${Date.now()}.${randomBytes(4).toString("hex")}.json`;
    for (const dir of this.dirs()) {
      const written = await this.writeTemporary(dir, name, record);
      if (written === null) continue;
      await rename(written, join(dir, name));
      if (dir !== this.dir) this.logger.warn({ agent: record.agentId, dir }, "the state dir refused the pending record: kept in the spare journal");
      return name;
    }
    this.logger.warn({ agent: record.agentId }, "the pending record is kept in memory until the database takes it");
    this.inMemory.set(name, record);
    return name;
  }

  /**
   * Replaces a record (to add what was stopped) if it is still waiting. The record is first
   * moved aside, which fails if whoever recorded it has removed it: a replacement must never
   * bring back a record that was already recorded.
   */
  async update(name: string, record: PendingEnding): Promise<void> {
    if (this.inMemory.has(name)) {
      this.inMemory.set(name, record);
      return;
    }
    const dir = this.dirs().find((candidate) => existsSync(join(candidate, name))) ?? this.dir;
    const written = await this.writeTemporary(dir, name, record);
    // The disk refused the copy: the record on disk stands, without what the update adds.
    if (written === null) return;
    const path = join(dir, name);
    // Looked for and replaced in one turn of the event loop (a rename over it is atomic): a
    // pass of this process that recorded the end and removed it meanwhile is never undone, which
    // would leave an end already on record waiting in the journal.
    if (!existsSync(path)) {
      await removeQuietly(written);
      return;
    }
    renameSync(written, path);
  }

  /** Every waiting record, oldest first; a file that does not parse is set aside as `.bad`. */
  list(): PendingEntry[] {
    const entries: PendingEntry[] = [];
    for (const dir of this.dirs()) {
      for (const name of recordNames(dir)) {
        const record = this.read(dir, name);
        if (record !== null) entries.push({ name, record });
      }
    }
    for (const [name, record] of this.inMemory) entries.push({ name, record });
    return entries.sort((a, b) => a.record.at - b.record.at);
  }

  /** Whether an end of this agent is waiting: a later one must queue behind it, not overtake it. */
  hasAgent(agentId: string): boolean {
    return this.list().some((entry) => entry.record.agentId === agentId);
  }

  has(name: string): boolean {
    return this.inMemory.has(name) || this.list().some((entry) => entry.name === name);
  }

  remove(name: string): void {
    if (this.inMemory.delete(name)) return;
    for (const dir of this.dirs()) {
      try {
        unlinkSync(join(dir, name));
      } catch (cause) {
        // Not in this directory, or another corral recorded and removed it first.
        if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
      }
    }
    // The spare directory lives outside the state dir: nothing of it stays once it is empty.
    if (this.spare !== null && recordNames(this.spare).length === 0) removeEmptyDirs(this.spare, 2);
  }

  private read(dir: string, name: string): PendingEnding | null {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (cause) {
      // Removed by another corral between the listing and the read.
      if ((cause as { code?: unknown }).code === "ENOENT") return null;
      throw cause;
    }
    let parsed: PendingEnding;
    try {
      parsed = PendingEndingSchema.parse(JSON.parse(text));
    } catch (cause) {
      this.logger.error({ file: path, err: describeUnknown(cause) }, "a pending record is damaged: set aside as .bad");
      renameSync(path, `${path}.bad`);
      return null;
    }
    return parsed;
  }

  /**
   * Writes the record under a temporary name, fsynced, and returns that path; null when the
   * state dir refuses it. On the thread pool: a slow disk must not hold the event loop either.
   */
  private async writeTemporary(dir: string, name: string, record: PendingEnding): Promise<string | null> {
    const temporary = join(dir, `.${name}.${randomBytes(4).toString("hex")}.tmp`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // A spare directory outside the state dir must be ours alone: another user could have made it first.
      if (dir !== this.dir && !ownedPrivately(dir)) {
        this.logger.error({ dir }, "the spare journal is not a private directory of this user: not used");
        return null;
      }
      const handle = await open(temporary, "w", 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(record)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return temporary;
    } catch (cause) {
      if (!UNWRITABLE.has(String((cause as { code?: unknown }).code))) throw cause;
      await removeQuietly(temporary);
      this.logger.error({ agent: record.agentId, err: describeUnknown(cause) }, "cannot write a pending record to disk");
      return null;
    }
  }
}

function recordNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith(".json"));
  } catch (cause) {
    if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
    return [];
  }
}

/** Whether `dir` and its parent belong to this user and let no one else in. */
function ownedPrivately(dir: string): boolean {
  const uid = process.getuid?.() ?? 0;
  return [dir, dirname(dir)].every((path) => {
    const stat = lstatSync(path);
    return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0;
  });
}

/**
 * Where an end goes when the state dir refuses it: in RAM (/dev/shm), on another file system
 * than the state dir's full or read-only one, named by the state dir so that the next corral
 * on it looks there too. Null where there is no /dev/shm.
 */
export function spareJournalDir(home: string): string | null {
  if (!existsSync("/dev/shm")) return null;
  return join("/dev/shm", `corral-${process.getuid?.() ?? 0}`, stateDirKey(home));
}

/** Why the state dir may refuse a file: then the record is kept in memory instead. */
const UNWRITABLE = new Set(["ENOSPC", "EROFS", "EACCES", "EDQUOT"]);

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (cause) {
    // Never created (open failed), or the file system refuses even this: nothing to undo then.
    const code = String((cause as { code?: unknown }).code);
    if (code !== "ENOENT" && !UNWRITABLE.has(code)) throw cause;
  }
}
