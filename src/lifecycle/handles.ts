import type { AgentHandle, Placement, Runner } from "../runners/runner.js";
import type { AgentRecord } from "../store/records.js";

/** The variable of the mark every process of an agent inherits (`CORRAL_MARK=<nonce>`). */
export const MARK_NAME = "CORRAL_MARK";

/** What names the agent to its runner before anything of it runs. */
export function placementOf(agent: AgentRecord): Placement {
  return { name: agent.id, agentDir: agent.agentDir, mark: { name: MARK_NAME, value: agent.mark } };
}

/**
 * The agent's handle as its runner reads it back from the row. A row without one (its corral
 * died before the placement was recorded), or with one its runner refuses, still names the
 * agent by its mark: whatever of it may run is found that way.
 */
export function handleOf(runner: Runner, agent: AgentRecord): AgentHandle {
  const stored = agent.handle === null ? null : runner.readHandle(agent.handle);
  return stored?.ok === true ? stored.value : runner.unplaced(placementOf(agent));
}
