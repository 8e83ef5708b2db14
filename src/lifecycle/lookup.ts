import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentRecord, TaskRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import { parseAgentId, parseTaskId } from "./inputs.js";

/** The task a caller names, its id parsed first. */
export function findTask(store: Store, rawTaskId: string): Result<TaskRecord> {
  const id = parseTaskId(rawTaskId);
  if (!id.ok) return id;
  const task = store.tasks.get(id.value);
  return task === null ? fail("UNKNOWN_TASK", `no task ${rawTaskId}`, "task_id") : ok(task);
}

/**
 * The agent a caller names within the task it names: an agent of another task is not found.
 * A refusal names `field`, the input the id came in.
 */
export function findAgent(store: Store, rawTaskId: string, rawAgentId: string, field = "agent_id"): Result<AgentRecord> {
  const task = findTask(store, rawTaskId);
  if (!task.ok) return task;
  const id = parseAgentId(rawAgentId, field);
  if (!id.ok) return id;
  const agent = store.agents.get(id.value);
  if (agent === null || agent.taskId !== task.value.id) return fail("UNKNOWN_AGENT", `no agent ${rawAgentId} in task ${rawTaskId}`, field);
  return ok(agent);
}
