import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { ReadResourceResult } from "@modelcontextprotocol/sdk/types.js";
import type { Result } from "../domain/errors.js";
import type { Corral } from "../lifecycle/corral.js";

function json(uri: URL, result: Result<unknown>): ReadResourceResult {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(result.value, null, 2) }] };
}

const one = (value: string | string[] | undefined): string => (Array.isArray(value) ? (value[0] ?? "") : (value ?? ""));

/** The same state as the read-only tools, as resources a client can subscribe its UI to. */
export function registerResources(server: McpServer, corral: Corral): void {
  server.registerResource(
    "tasks",
    "tasks://list",
    { title: "Tasks", description: "every task with its agent counts", mimeType: "application/json" },
    async (uri) => json(uri, { ok: true, value: corral.listTasks() }),
  );

  const taskList = () => ({
    resources: corral.listTasks().map((t) => ({ uri: `task://${t.taskId}/status`, name: `${t.taskId} status`, mimeType: "application/json" })),
  });
  server.registerResource(
    "task-status",
    new ResourceTemplate("task://{task_id}/status", { list: taskList }),
    { title: "Task status", description: "what get_real_task_status returns", mimeType: "application/json" },
    async (uri, { task_id }) => json(uri, corral.status(one(task_id))),
  );

  server.registerResource(
    "task-progress-timeline",
    new ResourceTemplate("task://{task_id}/progress-timeline", { list: undefined }),
    { title: "Progress timeline", description: "every progress report and finding of a task, oldest first", mimeType: "application/json" },
    async (uri, { task_id }) => json(uri, corral.timeline(one(task_id))),
  );

  server.registerResource(
    "agent-output",
    new ResourceTemplate("agent://{task_id}/{agent_id}/output", { list: undefined }),
    { title: "Agent output", description: "an agent's recent output, live or archived", mimeType: "text/plain" },
    async (uri, { task_id, agent_id }) => {
      const output = await corral.output(one(task_id), one(agent_id), { responseFormat: "recent" });
      if (!output.ok) throw new Error(`${output.error.code}: ${output.error.message}`);
      return { contents: [{ uri: uri.href, mimeType: "text/plain", text: output.value.text ?? "" }] };
    },
  );
}
