import { join } from "node:path";
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
