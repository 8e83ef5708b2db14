import * as z from "zod";
import { fail, ok, type Result } from "../domain/errors.js";
import type { Corral } from "../lifecycle/corral.js";
import { Field } from "../lifecycle/inputs.js";
import { ReportedView, SpawnedView, TaskContextView } from "../lifecycle/reply-views.js";
import { contextView } from "../lifecycle/task-status.js";
import type { AgentRecord } from "../store/records.js";
import { defineTool, type Tool } from "./tool.js";

const compat = {
  task_id: Field.taskId.optional().describe("accepted for compatibility; must be your own task"),
  agent_id: Field.agentId.optional().describe("accepted for compatibility; must be your own id"),
};
const REPORTS = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false } as const;

// The inputs are made once per process: a coordinator serving contained agents makes their
// tools for each relay connection, and the published schemas are cached by schema.
const ProgressInput = z.strictObject({ status: Field.progressStatus, message: Field.message, progress: Field.progress.optional(), ...compat });
const FindingInput = z.strictObject({
  finding_type: Field.findingType,
  severity: Field.severity,
  message: Field.message,
  data: Field.findingData.optional(),
  ...compat,
});
const SpawnInput = z.strictObject({
  child_agent_type: Field.agentType,
  child_prompt: Field.prompt,
  model: Field.model.optional(),
  effort: Field.effort.optional(),
  task_id: compat.task_id,
  parent_agent_id: Field.agentId.optional().describe("accepted for compatibility; must be your own id"),
});
const NoInput = z.strictObject({});

/** Who is calling, asked again on every call: an agent that has ended is refused from then on. */
export type AgentIdentity = () => Promise<Result<AgentRecord>>;

/**
 * The tools an agent's own CLI sees, bound to the one agent `identity` names: it reports for
 * itself, spawns under itself, and reads its task's shared context, nothing else.
 */
export function agentTools(corral: Corral, identity: AgentIdentity): Tool[] {
  const self = async (claimed: { task_id?: string | undefined; agent_id?: string | undefined }, idField = "agent_id"): Promise<Result<AgentRecord>> => {
    const agent = await identity();
    if (!agent.ok) return agent;
    if (claimed.agent_id !== undefined && claimed.agent_id !== agent.value.id) {
      return fail("AUTH_REFUSED", `you are agent ${agent.value.id}; you cannot act for agent ${claimed.agent_id}`, idField);
    }
    if (claimed.task_id !== undefined && claimed.task_id !== agent.value.taskId) {
      return fail("AUTH_REFUSED", `you work on task ${agent.value.taskId}; you cannot act in task ${claimed.task_id}`, "task_id");
    }
    return agent;
  };

  return [
    defineTool({
      name: "update_agent_progress",
      title: "Report progress",
      description:
        "Tells the coordinator how your work goes: a short status (e.g. 'working', 'blocked', 'completed'), a message, " +
        "and a percentage. Call it when you start, after each significant step, and with status 'completed' when done.",
      input: ProgressInput,
      output: ReportedView,
      annotations: REPORTS,
      run: async ({ status, message, progress, task_id, agent_id }) => {
        const agent = await self({ task_id, agent_id });
        if (!agent.ok) return agent;
        const reported = await corral.report(agent.value.id, { kind: "progress", status, message, ...(progress === undefined ? {} : { progress }) });
        if (!reported.ok) return reported;
        if (status.toLowerCase() === "completed") {
          const claimed = corral.claimDone(agent.value.id);
          if (!claimed.ok) return claimed;
        }
        return ok({ recorded: true, eventId: reported.value });
      },
    }),

    defineTool({
      name: "report_agent_finding",
      title: "Report a finding",
      description: "Records something the coordinator must know — a bug, a risk, a result — with a type and a severity.",
      input: FindingInput,
      output: ReportedView,
      annotations: REPORTS,
      run: async ({ finding_type, severity, message, data, task_id, agent_id }) => {
        const agent = await self({ task_id, agent_id });
        if (!agent.ok) return agent;
        const reported = await corral.report(agent.value.id, {
          kind: "finding",
          findingType: finding_type,
          severity,
          message,
          ...(data === undefined ? {} : { data }),
        });
        return reported.ok ? ok({ recorded: true, eventId: reported.value }) : reported;
      },
    }),

    defineTool({
      name: "spawn_child_agent",
      title: "Spawn a child agent",
      description:
        "Starts a helper agent under you, with its own mission; it reports to the coordinator like you do. " +
        "Refused beyond the depth and children limits. The child is stopped if your own run ends first.",
      input: SpawnInput,
      output: SpawnedView,
      fields: { agent_type: "child_agent_type", prompt: "child_prompt", parent_id: "parent_agent_id" },
      annotations: REPORTS,
      run: async ({ child_agent_type, child_prompt, model, effort, task_id, parent_agent_id }) => {
        const agent = await self({ task_id, agent_id: parent_agent_id }, "parent_agent_id");
        if (!agent.ok) return agent;
        const spec = agent.value.spec;
        const child = await corral.deploy({
          taskId: agent.value.taskId,
          agentType: child_agent_type,
          prompt: child_prompt,
          parentId: agent.value.id,
          backend: agent.value.backend,
          cwd: agent.value.cwd,
          // A backend that runs an argv gave its agent one: the child runs the same.
          ...(Array.isArray(spec.command) ? { command: spec.command as string[] } : {}),
          ...(model === undefined ? (typeof spec.model === "string" ? { model: spec.model } : {}) : { model }),
          ...(effort === undefined ? {} : { effort }),
        });
        if (!child.ok) return child;
        return ok({ agentId: child.value.id, taskId: child.value.taskId, status: child.value.status, depth: child.value.depth });
      },
    }),

    defineTool({
      name: "get_task_context",
      title: "Task context",
      description: "Your identity (agent id, type, parent, depth) and your task's description and shared context.",
      input: NoInput,
      output: TaskContextView,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async () => {
        const agent = await self({});
        if (!agent.ok) return agent;
        const task = corral.task(agent.value.taskId);
        if (task === null) return fail("UNKNOWN_TASK", `no task ${agent.value.taskId}`);
        return ok({
          taskId: task.id,
          description: task.description,
          context: contextView(task.context),
          agent: { agentId: agent.value.id, type: agent.value.type, parent: agent.value.parentId, depth: agent.value.depth },
        });
      },
    }),
  ];
}
