import * as z from "zod";
import { ok } from "../domain/errors.js";
import type { Corral } from "../lifecycle/corral.js";
import { Field } from "../lifecycle/inputs.js";
import { AgentOutputView, OutputFields } from "../lifecycle/output-views.js";
import { PageFields } from "../lifecycle/paging.js";
import { CreatedTaskView, DeployedView, KillView, TaskPageView, WaitView, type DeployedView as Deployed } from "../lifecycle/reply-views.js";
import { TaskStatusView } from "../lifecycle/views.js";
import type { AgentRecord } from "../store/records.js";
import {
  DEFAULT_PAGE,
  MAX_CONTEXT_ITEM,
  MAX_CONTEXT_ITEMS,
  MAX_CONTEXT_TEXT,
  MAX_LIFETIME_MS,
  MAX_OUTPUT_BYTES,
  MAX_WAIT_IDS,
} from "../domain/bounds.js";
import { defineTool, type Tool } from "./tool.js";

const launchOptions = {
  model: Field.model.optional(),
  effort: Field.effort.optional(),
  backend: Field.backend.optional(),
  command: Field.command.optional(),
  max_runtime_s: z
    .number()
    .int()
    .positive()
    .max(MAX_LIFETIME_MS / 1000)
    .optional()
    .describe(
      "the agent's own wall-clock limit in seconds (at most a week): it then ends timed_out at that age, and outlives this coordinator's client — a shutdown leaves it running for the next corral to adopt",
    ),
  runner: Field.runner.optional(),
};
type LaunchOptions = z.output<z.ZodObject<typeof launchOptions>>;

const contextText = z.string().max(MAX_CONTEXT_TEXT);
const contextList = z.array(z.string().max(MAX_CONTEXT_ITEM)).max(MAX_CONTEXT_ITEMS);
const pageInput = { cursor: PageFields.cursor.optional(), limit: PageFields.limit.optional() };
const pageQuery = (cursor: string | undefined, limit: number | undefined) => ({
  ...(cursor === undefined ? {} : { cursor }),
  ...(limit === undefined ? {} : { limit }),
});

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;
const CREATES = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false } as const;

/** The service's field names as deploy_headless_agent's and spawn_child_agent's callers know them. */
const DEPLOY_FIELDS: Readonly<Record<string, string>> = { parent_id: "parent", max_runtime_ms: "max_runtime_s" };
const SPAWN_FIELDS: Readonly<Record<string, string>> = { ...DEPLOY_FIELDS, agent_type: "child_agent_type", parent_id: "parent_agent_id", prompt: "child_prompt" };

/**
 * The coordinator's tools, under the names users of the original orchestrator know. Each is
 * a thin shell: validate, call the lifecycle service, shape the answer.
 */
export function coordinatorTools(corral: Corral): Tool[] {
  const deploy = async (spec: { taskId: string; agentType: string; prompt: string; parentId: string | undefined } & LaunchOptions) => {
    const deployed = await corral.deploy({
      taskId: spec.taskId,
      agentType: spec.agentType,
      prompt: spec.prompt,
      ...(spec.parentId === undefined ? {} : { parentId: spec.parentId }),
      ...(spec.model === undefined ? {} : { model: spec.model }),
      ...(spec.effort === undefined ? {} : { effort: spec.effort }),
      ...(spec.backend === undefined ? {} : { backend: spec.backend }),
      ...(spec.command === undefined ? {} : { command: spec.command }),
      ...(spec.runner === undefined ? {} : { runner: spec.runner }),
      ...(spec.max_runtime_s === undefined ? {} : { maxRuntimeMs: spec.max_runtime_s * 1000 }),
    });
    return deployed.ok ? ok(deployedView(deployed.value)) : deployed;
  };

  return [
    defineTool({
      name: "create_real_task",
      title: "Create a task",
      description:
        "Creates a task: a workspace and a shared context that every agent deployed into it receives. " +
        "Call this first, then deploy_headless_agent with the returned task_id. client_cwd is the directory the agents work in.",
      input: z.strictObject({
        description: Field.description,
        priority: Field.priority.optional(),
        client_cwd: Field.clientCwd.optional(),
        background_context: contextText.optional(),
        expected_deliverables: contextList.optional(),
        success_criteria: contextList.optional(),
        constraints: contextList.optional(),
        relevant_files: contextList.optional(),
        conversation_history: contextText.optional(),
      }),
      output: CreatedTaskView,
      annotations: CREATES,
      run: ({ description, priority, client_cwd, ...context }) => {
        const created = corral.createTask({
          description,
          ...(priority === undefined ? {} : { priority }),
          ...(client_cwd === undefined ? {} : { clientCwd: client_cwd }),
          context: Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)),
        });
        return created.ok ? ok({ taskId: created.value.id, workspace: created.value.workspace, status: "created" as const }) : created;
      },
    }),

    defineTool({
      name: "deploy_headless_agent",
      title: "Deploy an agent",
      description:
        "Starts a headless agent in a task and returns its agent_id at once; the agent works in the background. " +
        "Follow it with get_real_task_status, get_agent_output or wait_for_agents. Refused when a limit is reached.",
      input: z.strictObject({
        task_id: Field.taskId,
        agent_type: Field.agentType,
        prompt: Field.prompt,
        parent: Field.agentId.optional().describe("agent id of the parent, to deploy as its child"),
        ...launchOptions,
      }),
      output: DeployedView,
      fields: DEPLOY_FIELDS,
      annotations: CREATES,
      run: ({ task_id, agent_type, prompt, parent, ...launch }) => deploy({ taskId: task_id, agentType: agent_type, prompt, parentId: parent, ...launch }),
    }),

    defineTool({
      name: "spawn_child_agent",
      title: "Spawn a child agent",
      description: "Deploys an agent as the child of another, within the depth and children limits.",
      input: z.strictObject({
        task_id: Field.taskId,
        parent_agent_id: Field.agentId,
        child_agent_type: Field.agentType,
        child_prompt: Field.prompt,
        ...launchOptions,
      }),
      output: DeployedView,
      fields: SPAWN_FIELDS,
      annotations: CREATES,
      run: ({ task_id, parent_agent_id, child_agent_type, child_prompt, ...launch }) =>
        deploy({ taskId: task_id, agentType: child_agent_type, prompt: child_prompt, parentId: parent_agent_id, ...launch }),
    }),

    defineTool({
      name: "get_real_task_status",
      title: "Task status",
      description:
        "Everything about a task in one read that changes nothing. First what holds for every agent: counts by state, " +
        "cost and token totals, and the agents needing attention (flagged, or ended failed, crashed or timed out); then " +
        `one page of the agents (default ${DEFAULT_PAGE}) with progress and latest message, and their hierarchy; then the ` +
        "latest progress and findings, and the limits in use. For the next page pass page.next, as given, as cursor.",
      input: z.strictObject({ task_id: Field.taskId, ...pageInput }),
      output: TaskStatusView,
      annotations: READ_ONLY,
      run: ({ task_id, cursor, limit }) => corral.status(task_id, pageQuery(cursor, limit)),
    }),

    defineTool({
      name: "get_agent_output",
      title: "Agent output",
      description:
        "An agent's output, from its live log or its archive alike. response_format: full, recent (last 50 lines), " +
        "compact (long lines cut), summary (final result, errors, counts, cost and exit, in a few hundred bytes). filter keeps the lines that match an RE2 regular " +
        "expression (JavaScript syntax without lookaround or backreferences; flags inline, e.g. (?i)error), newest first, within 2 s of matching.",
      input: z.strictObject({
        task_id: Field.taskId,
        agent_id: Field.agentId,
        tail: OutputFields.tail.optional(),
        filter: OutputFields.filter.optional(),
        format: OutputFields.format.optional(),
        response_format: OutputFields.responseFormat.optional(),
        max_bytes: OutputFields.maxBytes(MAX_OUTPUT_BYTES).optional(),
      }),
      output: AgentOutputView,
      annotations: READ_ONLY,
      run: ({ task_id, agent_id, tail, filter, format, response_format, max_bytes }) =>
        corral.output(task_id, agent_id, {
          ...(tail === undefined ? {} : { tail }),
          ...(filter === undefined ? {} : { filter }),
          ...(format === undefined ? {} : { format }),
          ...(response_format === undefined ? {} : { responseFormat: response_format }),
          ...(max_bytes === undefined ? {} : { maxBytes: max_bytes }),
        }),
    }),

    defineTool({
      name: "kill_real_agent",
      title: "Kill an agent",
      description:
        "Stops an agent and all its descendants, verifies their processes are gone, archives the log and frees the slot. " +
        "Returns the cleanup record: what was signalled, what survived (the goal is nothing), what was archived and deleted.",
      input: z.strictObject({ task_id: Field.taskId, agent_id: Field.agentId, reason: z.string().max(2000).optional() }),
      output: KillView,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
      run: async ({ task_id, agent_id, reason }) => {
        const killed = await corral.killInTask(task_id, agent_id, reason ?? "killed by the coordinator");
        return killed.ok ? ok({ killedNow: killed.value.killedNow, agent: killed.value.view, cleanup: killed.value.cleanup }) : killed;
      },
    }),

    defineTool({
      name: "list_real_tasks",
      title: "List tasks",
      description: `Every task, newest first, with its agent counts, a page at a time (default ${DEFAULT_PAGE}): pass page.next, as given, as cursor for the next.`,
      input: z.strictObject(pageInput),
      output: TaskPageView,
      annotations: READ_ONLY,
      run: ({ cursor, limit }) => corral.taskPage(pageQuery(cursor, limit)),
    }),

    defineTool({
      name: "wait_for_agents",
      title: "Wait for agents",
      description:
        "Returns when any (mode 'any') or all (mode 'all', the default) of the given agents — or of every agent in the task — " +
        `have ended, or when timeout_s passes, sending progress notifications meanwhile. Use it instead of polling. At most ${DEFAULT_PAGE} agents are shown.`,
      input: z.strictObject({
        task_id: Field.taskId,
        agent_ids: z.array(Field.agentId).max(MAX_WAIT_IDS).optional().describe(`at most ${MAX_WAIT_IDS}; default: every agent of the task`),
        mode: z.enum(["any", "all"]).optional(),
        timeout_s: z.number().positive().max(24 * 3600).optional().describe("default 300"),
      }),
      output: WaitView,
      annotations: READ_ONLY,
      run: async ({ task_id, agent_ids, mode, timeout_s }, extra) => {
        const token = extra._meta?.progressToken;
        let last = -1;
        // Awaited, so that the last notification reaches the client before the result does.
        const notify = async (ended: number, total: number) => {
          if (token === undefined || ended === last) return;
          last = ended;
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress: ended, total, message: `${ended} of ${total} agents ended` },
          });
        };
        return corral.waitForAgents(task_id, agent_ids, mode ?? "all", (timeout_s ?? 300) * 1000, notify, DEFAULT_PAGE);
      },
    }),
  ];
}

function deployedView(agent: AgentRecord): Deployed {
  return {
    agentId: agent.id,
    taskId: agent.taskId,
    status: agent.status,
    depth: agent.depth,
    pid: agent.process?.pid ?? null,
    runner: agent.runner,
    ...(agent.runner === "tmux" ? { watch: `corral attach ${agent.id}` } : {}),
  };
}
