import { join } from "node:path";
import { parseCleanupClaim, type CleanupClaim } from "../../src/domain/cleanup-state.js";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../../src/domain/ids.js";
import type { NewAgent } from "../../src/store/agents.js";

/**
 * An agent row as a deploy would insert it before launching: a command agent of `task`, in
 * its workspace, with no process yet. Tests change what their rule is about.
 */
export function agentRow(
  task: { readonly id: TaskId; readonly workspace: string },
  owner: NewAgent["owner"],
  overrides: Partial<NewAgent> & { readonly id: AgentId },
): NewAgent {
  const type = overrides.id.split("-")[0] as AgentType;
  return {
    taskId: task.id,
    type,
    parentId: null,
    backend: "command",
    runner: "process",
    prompt: "p",
    spec: {},
    cwd: task.workspace,
    agentDir: join(task.workspace, "agents", overrides.id),
    logPath: join(task.workspace, "logs", `${overrides.id}.log`),
    mark: "none",
    tokenHash: null,
    createdAt: Date.now(),
    owner,
    ...overrides,
  };
}

/** A cleanup claim of `claimer` with a nonce (hex) the test names, so it can name it again. */
export function cleanupClaim(nonce: string, claimer: { readonly pid: number; readonly startTime: string } = { pid: 1, startTime: "1" }): CleanupClaim {
  return unwrap(parseCleanupClaim(`${claimer.pid}:${claimer.startTime}:${nonce}`));
}
