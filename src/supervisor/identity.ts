import { readStat, type ProcStat } from "./procfs.js";

/** A process named for its whole life: a pid alone can be reused by an unrelated process. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
}

export const sameProcess = (a: ProcessIdentity, b: ProcessIdentity): boolean =>
  a.pid === b.pid && a.startTime === b.startTime;

/** A zombie has finished: it holds a pid but runs nothing and cannot be signalled away. */
const isRunningState = (stat: ProcStat): boolean => stat.state !== "Z" && stat.state !== "X";

export function identify(pid: number): ProcessIdentity | null {
  const stat = readStat(pid);
  return stat === null || !isRunningState(stat) ? null : { pid, startTime: stat.startTime };
}

/** The live process with this identity, or null when it exited or its pid now names another. */
export function statOf(identity: ProcessIdentity): ProcStat | null {
  const stat = readStat(identity.pid);
  if (stat === null || stat.startTime !== identity.startTime || !isRunningState(stat)) return null;
  return stat;
}

export const isAlive = (identity: ProcessIdentity): boolean => statOf(identity) !== null;

/**
 * Whether the pid names some process, zombies included: one system call, a tenth of what
 * isAlive costs, for a watch that looks often and confirms with isAlive now and then (the pid
 * may since name another process).
 */
export function pidTaken(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true;
    throw cause;
  }
}

export type SignalOutcome = "sent" | "gone";

/**
 * Signals the process only if the pid still names it. The check and the kill are two system
 * calls, but the window is microseconds and the pid cannot be reused while the process (or
 * its zombie) holds it, which covers every process corral itself reaps.
 */
export function signalProcess(identity: ProcessIdentity, signal: NodeJS.Signals): SignalOutcome {
  if (!isAlive(identity)) return "gone";
  try {
    process.kill(identity.pid, signal);
    return "sent";
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ESRCH") return "gone";
    throw cause;
  }
}
