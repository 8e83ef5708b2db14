import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";

/**
 * Reads of /proc, and nothing else: corral finds processes by session, group, parentage and an
 * inherited environment mark, never by command line and never through `ps`.
 */
export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  /** R, S, D, Z (zombie), T (stopped), X (dead), ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** Clock ticks since boot; with the pid it names one process for its whole life. */
  readonly startTime: string;
  /** User plus system CPU time, in clock ticks. */
  readonly cpuTicks: number;
}

// One buffer reused for every read keeps a scan of thousands of processes allocation-free.
// 256 KiB holds any stat, a children list of 30,000 pids, and environments of ordinary size;
// the mark sits first in an agent's environment, so a longer one is still read far enough.
const scratch = Buffer.alloc(256 * 1024);

/** A process that vanished between listing and reading is an expected race, not an error. */
export function isGone(cause: unknown): boolean {
  const code = (cause as { code?: unknown }).code;
  return code === "ENOENT" || code === "ESRCH" || code === "EACCES" || code === "EPERM";
}

function readSmall(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (cause) {
    if (isGone(cause)) return null;
    throw cause;
  }
  try {
    // /proc files hand out at most a page per read: read until EOF.
    let length = 0;
    for (;;) {
      const n = readSync(fd, scratch, length, scratch.length - length, null);
      if (n === 0 || length + n === scratch.length) return scratch.toString("latin1", 0, length + n);
      length += n;
    }
  } catch (cause) {
    if (isGone(cause)) return null;
    throw cause;
  } finally {
    closeSync(fd);
  }
}

export function parseStat(pid: number, text: string): ProcStat | null {
  // The command name sits in parentheses and may itself contain spaces and ')'.
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const fields = text.slice(close + 2).split(" ");
  // fields[0] is field 3 of stat(5): state; ppid 4, pgrp 5, session 6, starttime 22.
  const state = fields[0];
  const starttime = fields[19];
  if (state === undefined || starttime === undefined) return null;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state,
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    startTime: starttime,
    // utime and stime are fields 14 and 15 of stat(5).
    cpuTicks: Number(fields[11]) + Number(fields[12]),
  };
}

export function readStat(pid: number): ProcStat | null {
  const text = readSmall(`/proc/${pid}/stat`);
  return text === null ? null : parseStat(pid, text);
}

export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    const first = name.charCodeAt(0);
    if (first >= 48 && first <= 57) pids.push(Number(name));
  }
  return pids;
}

/** Direct children, from every thread's children list (a child belongs to the thread that forked it). */
export function childPids(pid: number): number[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch (cause) {
    if (isGone(cause)) return [];
    throw cause;
  }
  const children: number[] = [];
  for (const tid of tids) {
    const text = readSmall(`/proc/${pid}/task/${tid}/children`);
    if (text === null) continue;
    for (const part of text.split(" ")) if (part !== "" && part !== "\n") children.push(Number(part));
  }
  return children;
}

/** Whether the process's initial environment holds `entry` (e.g. "CORRAL_MARK=abc"). */
export function environHas(pid: number, entry: string): boolean {
  const text = readSmall(`/proc/${pid}/environ`);
  if (text === null) return false;
  const needle = `${entry}\0`;
  return text.startsWith(needle) || text.includes(`\0${needle}`);
}

export function uidOf(pid: number): number | null {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch (cause) {
    if (isGone(cause)) return null;
    throw cause;
  }
}
