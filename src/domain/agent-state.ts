/**
 * The agent state machine. One table says which transitions exist; the store turns each into
 * a conditional UPDATE so that exactly one caller wins it and owns its side effects.
 */
export const AGENT_STATUSES = ["pending", "running", "completed", "failed", "killed", "crashed", "timed_out"] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const TERMINAL_STATUSES = ["completed", "failed", "killed", "crashed", "timed_out"] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

const TRANSITIONS: Readonly<Record<AgentStatus, readonly AgentStatus[]>> = {
  pending: ["running", "failed", "killed"],
  running: ["completed", "failed", "killed", "crashed", "timed_out"],
  completed: [],
  failed: [],
  killed: [],
  crashed: [],
  timed_out: [],
};

export function canTransition(from: AgentStatus, to: AgentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states from which `to` can be reached: the WHERE clause of a conditional update. */
export function sourcesOf(to: AgentStatus): AgentStatus[] {
  return AGENT_STATUSES.filter((from) => canTransition(from, to));
}

export function isTerminal(status: AgentStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export type ExitStatus =
  | { readonly kind: "exited"; readonly code: number }
  | { readonly kind: "signalled"; readonly signal: string };

/** completed on exit 0, failed on any other code, crashed on a signal. */
export function statusForExit(exit: ExitStatus): "completed" | "failed" | "crashed" {
  if (exit.kind === "signalled") return "crashed";
  return exit.code === 0 ? "completed" : "failed";
}
