import { AGENT_STATUSES, isTerminal, type AgentStatus } from "../domain/agent-state.js";
import type { CleanupStatus } from "../domain/cleanup-state.js";

type Status = AgentStatus | CleanupStatus;

/** A status as an SQL literal: only the domain's statuses are ever written into a statement. */
export function literal(status: Status): string {
  return `'${status}'`;
}

/** Statuses as an SQL list, `('a', 'b')`, for `status IN …`. */
export function literalList(statuses: readonly Status[]): string {
  return `(${statuses.map(literal).join(", ")})`;
}

/** The statuses of an agent not yet ended. */
export const LIVE = literalList(AGENT_STATUSES.filter((s) => !isTerminal(s)));
