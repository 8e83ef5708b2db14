import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import { describeUnknown } from "../domain/errors.js";

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
 * When even the journal cannot be written (the disk is full, the state dir read-only) the
 * record is kept in memory and replayed by this process alone.
 */
export class PendingRecords {
  private readonly inMemory = new Map<string, PendingEnding>();

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  add(record: PendingEnding): string {
    const name = `${record.agentId}.${Date.now()}.${randomBytes(4).toString("hex")}.json`;
    this.write(name, record);
    return name;
  }

  /** Replaces a record (to add what was stopped), if it is still waiting. */
  update(name: string, record: PendingEnding): void {
    if (this.inMemory.has(name)) {
      this.inMemory.set(name, record);
      return;
    }
    if (!this.list().some((entry) => entry.name === name)) return;
    this.write(name, record);
  }

  /** Every waiting record, oldest first; a file that does not parse is set aside as `.bad`. */
  list(): PendingEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((name) => name.endsWith(".json"));
    } catch (cause) {
      if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
      names = [];
    }
    const entries: PendingEntry[] = [];
    for (const name of names) {
      const record = this.read(name);
      if (record !== null) entries.push({ name, record });
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
    try {
      unlinkSync(join(this.dir, name));
    } catch (cause) {
      // Another corral recorded and removed it first.
      if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
    }
  }

  private read(name: string): PendingEnding | null {
    const path = join(this.dir, name);
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

  private write(name: string, record: PendingEnding): void {
    const temporary = join(this.dir, `.${name}.tmp`);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const fd = openSync(temporary, "w", 0o600);
      try {
        writeSync(fd, `${JSON.stringify(record)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, join(this.dir, name));
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      if (code !== "ENOSPC" && code !== "EROFS" && code !== "EACCES" && code !== "EDQUOT") throw cause;
      removeQuietly(temporary);
      this.logger.error({ agent: record.agentId, err: describeUnknown(cause) }, "cannot write the pending record to disk: kept in memory until the database takes it");
      this.inMemory.set(name, record);
    }
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (cause) {
    // Never created (the directory could not be made, or open failed).
    if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
  }
}
