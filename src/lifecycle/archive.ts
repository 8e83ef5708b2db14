import { closeSync, existsSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { constants, crc32, deflateRawSync } from "node:zlib";

export interface ArchiveResult {
  readonly bytes: number;
  readonly compressedBytes: number;
  readonly alreadyArchived: boolean;
}

const CHUNK_BYTES = 1 << 20;
// Magic, deflate, no flags, no mtime, no extra flags, OS unknown (RFC 1952).
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);

/**
 * Compresses a finished log into the archive, then removes the log. The archive appears under
 * its final name only once complete (write, then rename), so a crash mid-way leaves the log
 * intact and the step can simply run again. An agent that never started gets an empty archive,
 * so that reading any agent's output works the same way.
 *
 * Written with synchronous zlib calls on 1 MiB chunks, yielding between them, rather than with
 * zlib and fs streams: streams do their work on the thread pool, and thousands of them in a
 * row (one per agent) left the process's RSS growing by megabytes per thousand archives in
 * glibc's per-thread arenas. Each chunk is deflated on its own and ended with a sync flush, so
 * the chunks concatenate into one valid deflate stream, closed by a final empty block.
 */
export async function archiveLog(logPath: string, archivePath: string): Promise<ArchiveResult> {
  const hasLog = existsSync(logPath);
  if (!hasLog && existsSync(archivePath)) {
    return { bytes: 0, compressedBytes: statSync(archivePath).size, alreadyArchived: true };
  }
  const partial = `${archivePath}.partial`;
  const source = hasLog ? openSync(logPath, "r") : null;
  let bytes = 0;
  try {
    const target = openSync(partial, "w", 0o600);
    try {
      writeSync(target, GZIP_HEADER);
      let crc = 0;
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      for (;;) {
        const n = source === null ? 0 : readSync(source, chunk, 0, CHUNK_BYTES, null);
        if (n === 0) break;
        const data = chunk.subarray(0, n);
        crc = crc32(data, crc);
        bytes += n;
        writeSync(target, deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH }));
        await yieldToEventLoop();
      }
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc >>> 0, 0);
      trailer.writeUInt32LE(bytes % 2 ** 32, 4);
      writeSync(target, Buffer.concat([deflateRawSync(Buffer.alloc(0)), trailer]));
    } finally {
      closeSync(target);
    }
  } finally {
    if (source !== null) closeSync(source);
  }
  renameSync(partial, archivePath);
  if (hasLog) unlinkSync(logPath);
  return { bytes, compressedBytes: statSync(archivePath).size, alreadyArchived: false };
}
