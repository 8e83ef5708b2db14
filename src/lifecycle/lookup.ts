import { fail, ok, type Result } from "../domain/errors.js";
import { TaskIdSchema, type AgentId } from "../domain/ids.js";
import type { AgentRecord, TaskRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import { parseInput } from "./inputs.js";

/** The task a caller names, its id parsed first. */
export function findTask(store: Store, rawTaskId: string): Result<TaskRecord> {
  const id = parseInput(TaskIdSchema, rawTaskId);
  if (!id.ok) return fail("INVALID_ID", `task_id: ${id.error.message.replace(/^input: /, "")}`);
  const task = store.tasks.get(id.value);
  return task === null ? fail("UNKNOWN_TASK", `no task ${rawTaskId}`) : ok(task);
}

/** The agent a caller names within the task it names: an agent of another task is not found. */
export function findAgent(store: Store, rawTaskId: string, rawAgentId: string): Result<AgentRecord> {
  const task = findTask(store, rawTaskId);
  if (!task.ok) return task;
  const agent = store.agents.get(rawAgentId as AgentId);
  if (agent === null || agent.taskId !== task.value.id) return fail("UNKNOWN_AGENT", `no agent ${rawAgentId} in task ${rawTaskId}`);
  return ok(agent);
}
