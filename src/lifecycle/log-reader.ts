import { closeSync, createReadStream, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { createGunzip } from "node:zlib";
import type { AgentRecord } from "../store/records.js";

/** The end of an agent's output, and how much there was in all. */
export interface LogTail {
  readonly source: "live" | "archive" | "none";
  readonly data: Buffer;
  readonly totalBytes: number;
}

/**
 * The last `limit` bytes of the agent's log while it runs, of its archive afterwards. A live
 * log is read from its end. An archive cannot be read from its end (gzip has no index), so it
 * is decompressed as a stream, keeping only the last `limit` bytes: an archive of any size
 * is read in bounded memory, without holding the event loop for more than a chunk at a time.
 */
export async function readLogTail(agent: Pick<AgentRecord, "logPath" | "archivePath">, limit: number): Promise<LogTail> {
  if (existsSync(agent.logPath)) return readLiveTail(agent.logPath, limit);
  if (agent.archivePath !== null && existsSync(agent.archivePath)) return readArchiveTail(agent.archivePath, limit);
  return { source: "none", data: Buffer.alloc(0), totalBytes: 0 };
}

function readLiveTail(path: string, limit: number): LogTail {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, limit);
    // Not zero-filled: only the bytes read are handed out.
    const data = Buffer.allocUnsafe(length);
    const read = readSync(fd, data, 0, length, size - length);
    return { source: "live", data: data.subarray(0, read), totalBytes: size };
  } finally {
    closeSync(fd);
  }
}

async function readArchiveTail(path: string, limit: number): Promise<LogTail> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let totalBytes = 0;
  for await (const chunk of createReadStream(path).pipe(createGunzip())) {
    const data = chunk as Buffer;
    kept.push(data);
    keptBytes += data.length;
    totalBytes += data.length;
    while (kept.length > 1 && keptBytes - (kept[0] as Buffer).length >= limit) keptBytes -= (kept.shift() as Buffer).length;
  }
  const all = Buffer.concat(kept);
  return { source: "archive", data: all.subarray(Math.max(0, all.length - limit)), totalBytes };
}
