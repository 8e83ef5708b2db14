import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { stateDirCgroup } from "../src/supervisor/cgroup.js";
import { environHas, listPids, readStat, type ProcStat } from "../src/supervisor/procfs.js";

/**
 * What one look at the machine finds about a soak's corral: its own process (from /proc/PID),
 * its state dir on disk, and every process the soak started (its tree, and whatever carries the
 * soak's tag in its environment — a double-forked agent child is no longer in corral's tree).
 */

/** The tag every process the soak starts inherits, as the leak guard tags a test file's. */
export const TAG_NAME = "CORRAL_SOAK_TAG";

export interface Look {
  readonly fds: number;
  readonly rssKiB: number;
  readonly pssKiB: number;
  readonly threads: number;
  /** corral's user + system CPU time so far, in clock ticks. */
  readonly cpuTicks: number;
  readonly dbBytes: number;
  readonly walBytes: number;
  /** Disk use of the state dir (as du counts it), the database included. */
  readonly stateBytes: number;
  /** The same less the database and its -wal and -shm: logs, archives, temp files, sockets. */
  readonly stateLessDbBytes: number;
  /** Processes of the soak besides corral itself: agents, their children, tmux, tini. */
  readonly processes: number;
  readonly tmuxServers: number;
  readonly zombies: number;
  /** Agents' cgroups under the state dir's. */
  readonly cgroups: number;
}

const DB_FILES = ["corral.db", "corral.db-wal", "corral.db-shm"];

/** A /proc file of a process that may have gone meanwhile: null then. */
function procText(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ESRCH" || code === "EACCES") return null;
    throw cause;
  }
}

/** A "Name:   123 kB" line of /proc/PID/status or smaps_rollup, as a number. */
function field(text: string | null, name: string): number {
  const line = text?.split("\n").find((l) => l.startsWith(`${name}:`));
  return line === undefined ? 0 : Number.parseInt(line.slice(name.length + 1).trim(), 10);
}

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Bytes of disk a tree takes, as du counts them (allocated blocks, each inode once). */
export function diskUse(path: string): number {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (cause) {
    // A log archived or a temp dir removed between listing and stat: it takes nothing now.
    if ((cause as { code?: unknown }).code === "ENOENT") return 0;
    throw cause;
  }
  let bytes = stat.blocks * 512;
  if (!stat.isDirectory()) return bytes;
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return 0;
    throw cause;
  }
  for (const name of names) bytes += diskUse(join(path, name));
  return bytes;
}

/** The soak's processes, found in one pass over /proc: corral's tree and the tagged. */
export function soakProcesses(corralPid: number | null, tag: string): ProcStat[] {
  const all = listPids().flatMap((pid) => {
    const stat = readStat(pid);
    return stat === null ? [] : [stat];
  });
  const children = new Map<number, ProcStat[]>();
  for (const stat of all) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const found = new Map<number, ProcStat>();
  const addTree = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      if (found.has(child.pid)) continue;
      found.set(child.pid, child);
      addTree(child.pid);
    }
  };
  if (corralPid !== null) addTree(corralPid);
  for (const stat of all) {
    if (stat.pid === process.pid || stat.pid === corralPid || found.has(stat.pid)) continue;
    if (stat.state !== "Z" && environHas(stat.pid, `${TAG_NAME}=${tag}`)) {
      found.set(stat.pid, stat);
      addTree(stat.pid);
    }
  }
  return [...found.values()];
}

/** tmux servers on sockets under the state dir's tmux dir (their command line names the socket). */
export function tmuxServers(processes: readonly ProcStat[], home: string): number[] {
  const sockets = `${join(home, "tmux")}/`;
  return processes.filter((p) => p.comm === "tmux: server" && (procText(`/proc/${p.pid}/cmdline`) ?? "").includes(sockets)).map((p) => p.pid);
}

/** Agents' cgroups corral has under the state dir's cgroup now. */
export function agentCgroups(home: string): string[] {
  const parent = stateDirCgroup(home);
  if (parent === null || !existsSync(parent)) return [];
  return readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(parent, e.name));
}

export function look(corralPid: number, home: string, tag: string): Look {
  const status = procText(`/proc/${corralPid}/status`);
  const processes = soakProcesses(corralPid, tag);
  const db = new Set(DB_FILES.map((name) => join(home, name)));
  const stateBytes = diskUse(home);
  return {
    fds: readdirSync(`/proc/${corralPid}/fd`).length,
    rssKiB: field(status, "VmRSS"),
    pssKiB: field(procText(`/proc/${corralPid}/smaps_rollup`), "Pss"),
    threads: field(status, "Threads"),
    cpuTicks: readStat(corralPid)?.cpuTicks ?? 0,
    dbBytes: sizeOf(join(home, "corral.db")),
    walBytes: sizeOf(join(home, "corral.db-wal")),
    stateBytes,
    stateLessDbBytes: stateBytes - [...db].reduce((sum, path) => sum + diskUse(path), 0),
    processes: processes.length,
    tmuxServers: tmuxServers(processes, home).length,
    zombies: processes.filter((p) => p.state === "Z").length,
    cgroups: agentCgroups(home).length,
  };
}
