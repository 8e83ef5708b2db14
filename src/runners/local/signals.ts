import { constants } from "node:os";
import type { ExitStatus } from "../../domain/agent-state.js";

const signalNames = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

export function signalName(signal: number): string | null {
  return signalNames.get(signal) ?? null;
}

/**
 * An exit code as a shell or tini reports it: a death by signal N shows as 128+N. Read that
 * way only when `signalConvention` says such a reporter stands between corral and the agent.
 */
export function statusFromCode(code: number, signalConvention: boolean): ExitStatus {
  const signal = signalConvention && code > 128 ? signalName(code - 128) : null;
  return signal === null ? { kind: "exited", code } : { kind: "signalled", signal };
}
