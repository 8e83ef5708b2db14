import type { ProcessIdentity } from "./identity.js";
import { readStat } from "./procfs.js";

/** Deeper than any real process tree: a bound, so a damaged /proc cannot loop the walk. */
const MAX_DEPTH = 4096;

/**
 * The process and its ancestors, nearest first, read through /proc/<pid>/stat. A parent
 * cannot be younger than its child: a start time later than the child's means the parent
 * exited and its pid now names another process, and the walk stops there.
 */
export function ancestry(pid: number): ProcessIdentity[] {
  const chain: ProcessIdentity[] = [];
  let current = pid;
  let childStart: bigint | null = null;
  while (current > 0 && chain.length < MAX_DEPTH) {
    const stat = readStat(current);
    if (stat === null) break;
    const start = BigInt(stat.startTime);
    if (childStart !== null && start > childStart) break;
    chain.push({ pid: current, startTime: stat.startTime });
    childStart = start;
    current = stat.ppid;
  }
  return chain;
}
