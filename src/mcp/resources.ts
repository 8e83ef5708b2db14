import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode as RpcErrorCode, McpError, type ReadResourceResult } from "@modelcontextprotocol/sdk/types.js";
import type * as z from "zod";
import { errorView } from "../contract/errors.js";
import { toWire } from "../contract/wire.js";
import type { CorralError, Result } from "../domain/errors.js";
import type { Corral } from "../lifecycle/corral.js";
import { TaskPageView, TimelineView } from "../lifecycle/reply-views.js";
import { TaskStatusView } from "../lifecycle/views.js";
import { MAX_PAGE, REPLY_BUDGET_BYTES } from "../domain/bounds.js";
import { fitToBudget } from "./reply-budget.js";

/** A refused read, as a JSON-RPC error whose data is the error as the tools publish it. */
const refused = (error: CorralError): McpError => new McpError(RpcErrorCode.InvalidParams, `${error.code}: ${error.message}`, errorView(error));

/** A resource's JSON, in the contract's words and within the same budget as a tool's reply. */
function json<S extends z.ZodType>(uri: URL, schema: S, result: Result<z.input<S>>): ReadResourceResult {
  if (!result.ok) throw refused(result.error);
  const fitted = fitToBudget(toWire(schema, result.value), REPLY_BUDGET_BYTES);
  if (!fitted.fits) {
    throw refused({ code: "REPLY_TOO_LARGE", message: `${uri.href} would be ${fitted.bytes} bytes, over the ${REPLY_BUDGET_BYTES}-byte budget; use the tools, which page` });
  }
  return { contents: [{ uri: uri.href, mimeType: "application/json", text: fitted.text }] };
}

/** The newest tasks, as many as one page holds: list_real_tasks pages through the rest. */
const newestTasks = (corral: Corral) => corral.taskPage({ limit: MAX_PAGE });

const one = (value: string | string[] | undefined): string => (Array.isArray(value) ? (value[0] ?? "") : (value ?? ""));

/** The same state as the read-only tools, as resources a client can subscribe its UI to. */
export function registerResources(server: McpServer, corral: Corral): void {
  server.registerResource(
    "tasks",
    "tasks://list",
    { title: "Tasks", description: `the newest ${MAX_PAGE} tasks with their agent counts, as list_real_tasks's first page`, mimeType: "application/json" },
    async (uri) => json(uri, TaskPageView, newestTasks(corral)),
  );

  const taskList = () => {
    const tasks = newestTasks(corral);
    if (!tasks.ok) throw refused(tasks.error);
    return { resources: tasks.value.tasks.map((t) => ({ uri: `task://${t.taskId}/status`, name: `${t.taskId} status`, mimeType: "application/json" })) };
  };
  server.registerResource(
    "task-status",
    new ResourceTemplate("task://{task_id}/status", { list: taskList }),
    { title: "Task status", description: "what get_real_task_status returns: the counts, totals and agents needing attention, and the first page of agents", mimeType: "application/json" },
    async (uri, { task_id }) => json(uri, TaskStatusView, corral.status(one(task_id), {})),
  );

  server.registerResource(
    "task-progress-timeline",
    new ResourceTemplate("task://{task_id}/progress-timeline", { list: undefined }),
    { title: "Progress timeline", description: `a task's newest ${MAX_PAGE} events (progress, findings, its agents' streams), oldest first, and how many it has`, mimeType: "application/json" },
    async (uri, { task_id }) => json(uri, TimelineView, corral.timeline(one(task_id))),
  );

  server.registerResource(
    "agent-output",
    new ResourceTemplate("agent://{task_id}/{agent_id}/output", { list: undefined }),
    { title: "Agent output", description: "an agent's recent output, live or archived", mimeType: "text/plain" },
    async (uri, { task_id, agent_id }) => {
      const output = await corral.output(one(task_id), one(agent_id), { responseFormat: "recent" });
      if (!output.ok) throw refused(output.error);
      // "recent" is the last lines within the default max_bytes: already inside the budget.
      return { contents: [{ uri: uri.href, mimeType: "text/plain", text: output.value.text ?? "" }] };
    },
  );
}
