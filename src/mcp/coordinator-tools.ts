import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { RUNNER_KINDS, type RunnerKind } from "../domain/config.js";
import { fail, ok } from "../domain/errors.js";
import type { Corral } from "../lifecycle/corral.js";
import { AgentOutputView } from "../lifecycle/agent-output.js";
import { EFFORTS, type Effort } from "../backends/backend.js";
import { describeBackends } from "../backends/registry.js";
import { BACKENDS, renameField } from "../lifecycle/inputs.js";
import { AgentView, CleanupRecordView, PageView, TaskStatusView, TaskSummaryView } from "../lifecycle/views.js";
import {
  DEFAULT_PAGE,
  MAX_AGENT_TYPE_CHARS,
  MAX_ID_CHARS,
  MAX_ARGV_BYTES,
  MAX_ARGV_ITEMS,
  MAX_CONTEXT_ITEM,
  MAX_CONTEXT_ITEMS,
  MAX_CONTEXT_TEXT,
  MAX_DESCRIPTION,
  MAX_LIFETIME_MS,
  MAX_OUTPUT_BYTES,
  MAX_PAGE,
  MAX_PROMPT,
  MAX_WAIT_IDS,
} from "../domain/bounds.js";
import { toolResult } from "./results.js";

const taskId = z.string().max(MAX_ID_CHARS).describe("the task id create_real_task returned, e.g. TASK-20260101-120000-0123abcd");
const agentId = z.string().max(MAX_ID_CHARS).describe("an agent id from deploy_headless_agent or get_real_task_status");
const agentType = z.string().max(MAX_AGENT_TYPE_CHARS).describe("what the agent is, 1-40 chars of a-z 0-9 _ -: e.g. 'researcher', 'test_writer'");
const launchOptions = {
  model: z.string().min(1).max(200).optional().describe("model for the agent's CLI (claude: e.g. 'sonnet', 'opus')"),
  effort: z.enum(EFFORTS).optional().describe("reasoning effort, for CLIs that take one"),
  backend: z
    .enum(BACKENDS)
    .optional()
    .describe(`which agent CLI runs it: ${describeBackends()}`),
  command: z
    .array(z.string().max(MAX_ARGV_BYTES))
    .min(1)
    .max(MAX_ARGV_ITEMS)
    .optional()
    .describe(`with backend 'command': the argv to run (no shell); at most ${MAX_ARGV_ITEMS} arguments, ${MAX_ARGV_BYTES} bytes in all`),
  max_runtime_s: z
    .number()
    .int()
    .positive()
    .max(MAX_LIFETIME_MS / 1000)
    .optional()
    .describe(
      "the agent's own wall-clock limit in seconds (at most a week): it then ends timed_out at that age, and outlives this coordinator's client — a shutdown leaves it running for the next corral to adopt",
    ),
  runner: z
    .enum(RUNNER_KINDS)
    .optional()
    .describe("where it runs: 'process' or 'tmux' (a tmux session a person can watch with `corral attach`); default: the parent's when tmux, else the configured runner"),
};

const contextText = z.string().max(MAX_CONTEXT_TEXT);
const contextList = z.array(z.string().max(MAX_CONTEXT_ITEM)).max(MAX_CONTEXT_ITEMS);
const pageInput = {
  cursor: z.string().max(20).optional().describe("page.next of the previous page; omit for the first"),
  limit: z.number().int().min(1).max(MAX_PAGE).optional().describe(`rows per page, default ${DEFAULT_PAGE}, at most ${MAX_PAGE}`),
};
const pageQuery = (cursor: string | undefined, limit: number | undefined) => ({
  ...(cursor === undefined ? {} : { cursor }),
  ...(limit === undefined ? {} : { limit }),
});

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;
const CREATES = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false } as const;

/**
 * The coordinator's tools, under the names users of the original orchestrator know. Each is
 * a thin shell: validate, call the lifecycle service, shape the answer.
 */
export function registerCoordinatorTools(server: McpServer, corral: Corral): void {
  server.registerTool(
    "create_real_task",
    {
      title: "Create a task",
      description:
        "Creates a task: a workspace and a shared context that every agent deployed into it receives. " +
        "Call this first, then deploy_headless_agent with the returned task_id. client_cwd is the directory the agents work in.",
      inputSchema: {
        description: z.string().max(MAX_DESCRIPTION).describe("what the task is about"),
        priority: z.enum(["low", "normal", "high", "critical"]).optional(),
        client_cwd: z.string().max(4096).optional().describe("absolute path of an existing directory, the project the agents work in"),
        background_context: contextText.optional(),
        expected_deliverables: contextList.optional(),
        success_criteria: contextList.optional(),
        constraints: contextList.optional(),
        relevant_files: contextList.optional(),
        conversation_history: contextText.optional(),
      },
      outputSchema: { task_id: z.string(), workspace: z.string(), status: z.literal("created") },
      annotations: CREATES,
    },
    async ({ description, priority, client_cwd, ...context }) => {
      const created = corral.createTask({
        description,
        ...(priority === undefined ? {} : { priority }),
        ...(client_cwd === undefined ? {} : { clientCwd: client_cwd }),
        context: Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)),
      });
      return toolResult(
        created.ok
          ? ok({ task_id: created.value.id, workspace: created.value.workspace, status: "created" as const })
          : fail(created.error.code, renameField(created.error.message, CREATE_FIELDS)),
      );
    },
  );

  const deployed = {
    agent_id: z.string(),
    task_id: z.string(),
    status: z.string(),
    depth: z.number().int(),
    pid: z.number().int().nullable(),
    runner: z.enum(RUNNER_KINDS),
    watch: z.string().optional().describe("for a tmux agent: the command that shows it live in a terminal"),
  };

  server.registerTool(
    "deploy_headless_agent",
    {
      title: "Deploy an agent",
      description:
        "Starts a headless agent in a task and returns its agent_id at once; the agent works in the background. " +
        "Follow it with get_real_task_status, get_agent_output or wait_for_agents. Refused when a limit is reached.",
      inputSchema: {
        task_id: taskId,
        agent_type: agentType,
        prompt: z.string().max(MAX_PROMPT).describe("the agent's mission"),
        parent: agentId.optional().describe("agent id of the parent, to deploy as its child"),
        ...launchOptions,
      },
      outputSchema: deployed,
      annotations: CREATES,
    },
    async ({ task_id, agent_type, prompt, parent, ...launch }) =>
      toolResult(await deploy(corral, DEPLOY_FIELDS, { task_id, agent_type, prompt, parent, ...launch })),
  );

  server.registerTool(
    "spawn_child_agent",
    {
      title: "Spawn a child agent",
      description: "Deploys an agent as the child of another, within the depth and children limits.",
      inputSchema: {
        task_id: taskId,
        parent_agent_id: agentId,
        child_agent_type: agentType,
        child_prompt: z.string().max(MAX_PROMPT),
        ...launchOptions,
      },
      outputSchema: deployed,
      annotations: CREATES,
    },
    async ({ task_id, parent_agent_id, child_agent_type, child_prompt, ...launch }) =>
      toolResult(await deploy(corral, SPAWN_FIELDS, { task_id, agent_type: child_agent_type, prompt: child_prompt, parent: parent_agent_id, ...launch })),
  );

  server.registerTool(
    "get_real_task_status",
    {
      title: "Task status",
      description:
        "Everything about a task in one read that changes nothing: counts by state, every agent with progress and " +
        "latest message, the hierarchy, the latest progress and findings, and the limits in use. Agents come a page " +
        "at a time (default 100): pass page.next as cursor for the next.",
      inputSchema: { task_id: taskId, ...pageInput },
      outputSchema: TaskStatusView,
      annotations: READ_ONLY,
    },
    async ({ task_id, cursor, limit }) => toolResult(corral.status(task_id, pageQuery(cursor, limit))),
  );

  server.registerTool(
    "get_agent_output",
    {
      title: "Agent output",
      description:
        "An agent's output, from its live log or its archive alike. response_format: full, recent (last 50 lines), " +
        "compact (long lines cut), summary (state, exit, size, last lines). filter keeps the lines that match an RE2 regular " +
        "expression (JavaScript syntax without lookaround or backreferences; flags inline, e.g. (?i)error), newest first, within 2 s of matching.",
      inputSchema: {
        task_id: taskId,
        agent_id: agentId,
        tail: z.number().int().min(1).max(1_000_000).optional().describe("only the last N lines"),
        filter: z.string().min(1).max(1000).optional().describe("RE2 regular expression; lines matching it are kept, e.g. '(?i)error|warn'"),
        format: z.enum(["text", "jsonl", "parsed"]).optional(),
        response_format: z.enum(["full", "summary", "compact", "recent"]).optional(),
        max_bytes: z
          .number()
          .int()
          .min(1)
          .max(MAX_OUTPUT_BYTES)
          .optional()
          .describe(`at most this many bytes of lines, counted as sent (JSON-escaped); default 100000, at most ${MAX_OUTPUT_BYTES}`),
      },
      outputSchema: AgentOutputView,
      annotations: READ_ONLY,
    },
    async ({ task_id, agent_id, tail, filter, format, response_format, max_bytes }) =>
      toolResult(
        await corral.output(task_id, agent_id, {
          ...(tail === undefined ? {} : { tail }),
          ...(filter === undefined ? {} : { filter }),
          ...(format === undefined ? {} : { format }),
          ...(response_format === undefined ? {} : { responseFormat: response_format }),
          ...(max_bytes === undefined ? {} : { maxBytes: max_bytes }),
        }),
      ),
  );

  server.registerTool(
    "kill_real_agent",
    {
      title: "Kill an agent",
      description:
        "Stops an agent and all its descendants, verifies their processes are gone, archives the log and frees the slot. " +
        "Returns the cleanup record: what was signalled, what survived (the goal is nothing), what was archived and deleted.",
      inputSchema: { task_id: taskId, agent_id: agentId, reason: z.string().max(2000).optional() },
      outputSchema: { killed_now: z.boolean(), agent: AgentView, cleanup: CleanupRecordView },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ task_id, agent_id, reason }) => {
      const killed = await corral.killInTask(task_id, agent_id, reason ?? "killed by the coordinator");
      return toolResult(
        killed.ok ? ok({ killed_now: killed.value.killedNow, agent: killed.value.view, cleanup: killed.value.cleanup }) : killed,
      );
    },
  );

  server.registerTool(
    "list_real_tasks",
    {
      title: "List tasks",
      description: "Every task, newest first, with its agent counts, a page at a time (default 100): pass page.next as cursor for the next.",
      inputSchema: pageInput,
      outputSchema: { tasks: z.array(TaskSummaryView), page: PageView, truncated: z.boolean().optional() },
      annotations: READ_ONLY,
    },
    async ({ cursor, limit }) => toolResult(corral.taskPage(pageQuery(cursor, limit))),
  );

  server.registerTool(
    "wait_for_agents",
    {
      title: "Wait for agents",
      description:
        "Returns when any (mode 'any') or all (mode 'all', the default) of the given agents — or of every agent in the task — " +
        "have ended, or when timeout_s passes, sending progress notifications meanwhile. Use it instead of polling.",
      inputSchema: {
        task_id: taskId,
        agent_ids: z.array(agentId).max(MAX_WAIT_IDS).optional().describe(`at most ${MAX_WAIT_IDS}; default: every agent of the task`),
        mode: z.enum(["any", "all"]).optional(),
        timeout_s: z.number().positive().max(24 * 3600).optional().describe("default 300"),
      },
      outputSchema: {
        satisfied: z.boolean(),
        total: z.number().int(),
        ended: z.number().int(),
        agents: z.array(AgentView).describe(`the agents that ended first, then the others; at most ${DEFAULT_PAGE}`),
        truncated: z.boolean().optional().describe("more agents than shown: get_real_task_status pages through all of them"),
      },
      annotations: READ_ONLY,
    },
    async ({ task_id, agent_ids, mode, timeout_s }, extra) => {
      const token = extra._meta?.progressToken;
      let last = -1;
      // Awaited, so that the last notification reaches the client before the result does.
      const waited = await corral.waitForAgents(task_id, agent_ids, mode ?? "all", (timeout_s ?? 300) * 1000, async (ended, total) => {
        if (token === undefined || ended === last) return;
        last = ended;
        await extra.sendNotification({
          method: "notifications/progress",
          params: { progressToken: token, progress: ended, total, message: `${ended} of ${total} agents ended` },
        });
      }, DEFAULT_PAGE);
      return toolResult(waited);
    },
  );
}

/** Lifecycle field names as this tool's caller knows them, for error messages. */
const CREATE_FIELDS: Readonly<Record<string, string>> = { clientCwd: "client_cwd" };
const DEPLOY_FIELDS: Readonly<Record<string, string>> = { taskId: "task_id", agentType: "agent_type", parentId: "parent", maxRuntimeMs: "max_runtime_s" };
const SPAWN_FIELDS: Readonly<Record<string, string>> = { ...DEPLOY_FIELDS, agentType: "child_agent_type", parentId: "parent_agent_id", prompt: "child_prompt" };


async function deploy(
  corral: Corral,
  names: Readonly<Record<string, string>>,
  input: {
    task_id: string;
    agent_type: string;
    prompt: string;
    parent: string | undefined;
    model?: string | undefined;
    effort?: Effort | undefined;
    backend?: (typeof BACKENDS)[number] | undefined;
    command?: string[] | undefined;
    runner?: RunnerKind | undefined;
    max_runtime_s?: number | undefined;
  },
) {
  const result = await corral.deploy({
    taskId: input.task_id,
    agentType: input.agent_type,
    prompt: input.prompt,
    ...(input.parent === undefined ? {} : { parentId: input.parent }),
    ...(input.model === undefined ? {} : { model: input.model }),
    ...(input.effort === undefined ? {} : { effort: input.effort }),
    ...(input.backend === undefined ? {} : { backend: input.backend }),
    ...(input.command === undefined ? {} : { command: input.command }),
    ...(input.runner === undefined ? {} : { runner: input.runner }),
    ...(input.max_runtime_s === undefined ? {} : { maxRuntimeMs: input.max_runtime_s * 1000 }),
  });
  if (!result.ok) return fail(result.error.code, renameField(result.error.message, names));
  const agent = result.value;
  return ok({
    agent_id: agent.id,
    task_id: agent.taskId,
    status: agent.status,
    depth: agent.depth,
    pid: agent.process?.pid ?? null,
    runner: agent.runner,
    ...(agent.runner === "tmux" ? { watch: `corral attach ${agent.id}` } : {}),
  });
}
