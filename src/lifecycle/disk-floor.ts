import type { AgentId } from "../domain/ids.js";

export interface LogGrowth {
  readonly id: AgentId;
  /** Bytes the agent's log grew since the last check. */
  readonly grew: number;
  readonly bytes: number;
}

/**
 * Below the reserve, the agent whose log grew most since the last check is stopped: its
 * output must not take the space corral needs to record its end (and everyone else's).
 * One a check, so that an agent which merely wrote a line is not stopped with the flood;
 * null when there is room or nobody is writing.
 */
export function planDiskFloor(logs: readonly LogGrowth[], freeBytes: number, reserveBytes: number): LogGrowth | null {
  if (reserveBytes === 0 || freeBytes >= reserveBytes) return null;
  let top: LogGrowth | null = null;
  for (const log of logs) if (log.grew > 0 && (top === null || log.grew > top.grew)) top = log;
  return top;
}
