import type { Config } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId, TaskId } from "../src/domain/ids.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { hashToken } from "../src/lifecycle/tokens.js";
import { agentRow } from "../test/helpers/builders.js";
import { withStore } from "../test/helpers/store.js";

/** The agent the cases deploy when only its being alive matters. */
export const SLEEPER = ["sleep", "300"];

/** Limits high enough for the thousands of agents a figure may need. */
export const MANY: Partial<Config> = { maxAgentsPerTask: 100_000, maxConcurrentAgents: 100_000 };

/** Agent rows straight into the store, as many as a figure needs, with the given tokens. */
export function insertAgents(corral: Corral, task: { id: TaskId; workspace: string }, count: number, tokens: readonly string[] = []): AgentId[] {
  return withStore(corral.config.home, (store) => {
    const ids: AgentId[] = [];
    for (let i = 0; i < count; i += 1) {
      const id = `bench-000000-${i.toString(16).padStart(6, "0")}` as AgentId;
      const token = tokens[i];
      unwrap(store.agents.insert(agentRow(task, corral.owner, { id, cwd: "/", tokenHash: token === undefined ? null : hashToken(token) }), corral.config));
      ids.push(id);
    }
    return ids;
  });
}
