import { readdirSync, readFileSync } from "node:fs";
import type { ProcessUsage } from "../domain/resource-limits.js";
import type { ProcessIdentity } from "./identity.js";
import { readStat } from "./procfs.js";

/** Clock ticks per second of /proc/<pid>/stat's times: 100 on every Linux corral runs on. */
const TICKS_PER_SECOND = 100;

function gone(cause: unknown): boolean {
  const code = (cause as { code?: unknown }).code;
  return code === "ENOENT" || code === "ESRCH" || code === "EACCES";
}

/** Open descriptors, address space and CPU time of each process, from /proc; vanished ones are left out. */
export function usageOf(processes: readonly ProcessIdentity[]): ProcessUsage[] {
  const usage: ProcessUsage[] = [];
  for (const process of processes) {
    const stat = readStat(process.pid);
    if (stat === null || stat.startTime !== process.startTime) continue;
    try {
      const openFiles = readdirSync(`/proc/${process.pid}/fd`).length;
      const status = readFileSync(`/proc/${process.pid}/status`, "latin1");
      const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
      usage.push({
        pid: process.pid,
        openFiles,
        addressSpaceMb: kb("VmSize") / 1024,
        residentMb: kb("VmRSS") / 1024,
        cpuSeconds: stat.cpuTicks / TICKS_PER_SECOND,
      });
    } catch (cause) {
      if (!gone(cause)) throw cause;
    }
  }
  return usage;
}
