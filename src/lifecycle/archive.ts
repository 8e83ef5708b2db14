import { createReadStream, createWriteStream, existsSync, renameSync, statSync, unlinkSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

export interface ArchiveResult {
  readonly bytes: number;
  readonly compressedBytes: number;
  readonly alreadyArchived: boolean;
}

/**
 * Compresses a finished log into the archive, then removes the log. The archive appears under
 * its final name only once complete (write, then rename), so a crash mid-way leaves the log
 * intact and the step can simply run again. An agent that never started gets an empty archive,
 * so that reading any agent's output works the same way.
 */
export async function archiveLog(logPath: string, archivePath: string): Promise<ArchiveResult> {
  const hasLog = existsSync(logPath);
  if (!hasLog && existsSync(archivePath)) {
    return { bytes: 0, compressedBytes: statSync(archivePath).size, alreadyArchived: true };
  }
  const partial = `${archivePath}.partial`;
  const bytes = hasLog ? statSync(logPath).size : 0;
  await pipeline(
    hasLog ? createReadStream(logPath) : Readable.from([]),
    createGzip(),
    createWriteStream(partial, { mode: 0o600 }),
  );
  renameSync(partial, archivePath);
  if (hasLog) unlinkSync(logPath);
  return { bytes, compressedBytes: statSync(archivePath).size, alreadyArchived: false };
}
