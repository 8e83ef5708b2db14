import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { EFFORTS } from "../backends/backend.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { Corral } from "../lifecycle/corral.js";
import type { AgentRecord } from "../store/records.js";
import { MAX_AGENT_TYPE_CHARS, MAX_FINDING_DATA_BYTES, MAX_ID_CHARS, MAX_PROMPT } from "../domain/bounds.js";
import { toolResult } from "./results.js";

const compat = {
  task_id: z.string().max(MAX_ID_CHARS).optional().describe("accepted for compatibility; must be your own task"),
  agent_id: z.string().max(MAX_ID_CHARS).optional().describe("accepted for compatibility; must be your own id"),
};
const REPORTS = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false } as const;

/** Who is calling, asked again on every call: an agent that has ended is refused from then on. */
export type AgentIdentity = () => Promise<Result<AgentRecord>>;

/**
 * The tools an agent's own CLI sees, bound to the one agent `identity` names: it reports for
 * itself, spawns under itself, and reads its task's shared context, nothing else.
 */
export function registerAgentTools(server: McpServer, corral: Corral, identity: AgentIdentity): void {
  const self = async (claimed: { task_id?: string | undefined; agent_id?: string | undefined }): Promise<Result<AgentRecord>> => {
    const agent = await identity();
    if (!agent.ok) return agent;
    if (claimed.agent_id !== undefined && claimed.agent_id !== agent.value.id) {
      return fail("AUTH_REFUSED", `you are agent ${agent.value.id}; you cannot act for agent ${claimed.agent_id}`);
    }
    if (claimed.task_id !== undefined && claimed.task_id !== agent.value.taskId) {
      return fail("AUTH_REFUSED", `you work on task ${agent.value.taskId}; you cannot act in task ${claimed.task_id}`);
    }
    return agent;
  };

  server.registerTool(
    "update_agent_progress",
    {
      title: "Report progress",
      description:
        "Tells the coordinator how your work goes: a short status (e.g. 'working', 'blocked', 'completed'), a message, " +
        "and a percentage. Call it when you start, after each significant step, and with status 'completed' when done.",
      inputSchema: {
        status: z.string().min(1).max(200),
        message: z.string().max(20_000),
        progress: z.number().int().min(0).max(100).optional(),
        ...compat,
      },
      outputSchema: { recorded: z.boolean(), event_id: z.number().int() },
      annotations: REPORTS,
    },
    async ({ status, message, progress, task_id, agent_id }) => {
      const agent = await self({ task_id, agent_id });
      if (!agent.ok) return toolResult(agent);
      const reported = await corral.report(agent.value.id, { kind: "progress", status, message, ...(progress === undefined ? {} : { progress }) });
      if (!reported.ok) return toolResult(reported);
      if (status.toLowerCase() === "completed") {
        const claimed = corral.claimDone(agent.value.id);
        if (!claimed.ok) return toolResult(claimed);
      }
      return toolResult(ok({ recorded: true, event_id: reported.value }));
    },
  );

  server.registerTool(
    "report_agent_finding",
    {
      title: "Report a finding",
      description: "Records something the coordinator must know — a bug, a risk, a result — with a type and a severity.",
      inputSchema: {
        finding_type: z.string().min(1).max(200),
        severity: z.enum(["low", "medium", "high", "critical"]),
        message: z.string().max(20_000),
        data: z.record(z.string(), z.unknown()).optional().describe(`at most ${MAX_FINDING_DATA_BYTES} bytes as JSON`),
        ...compat,
      },
      outputSchema: { recorded: z.boolean(), event_id: z.number().int() },
      annotations: REPORTS,
    },
    async ({ finding_type, severity, message, data, task_id, agent_id }) => {
      const agent = await self({ task_id, agent_id });
      if (!agent.ok) return toolResult(agent);
      const reported = await corral.report(agent.value.id, {
        kind: "finding",
        findingType: finding_type,
        severity,
        message,
        ...(data === undefined ? {} : { data }),
      });
      return toolResult(reported.ok ? ok({ recorded: true, event_id: reported.value }) : reported);
    },
  );

  server.registerTool(
    "spawn_child_agent",
    {
      title: "Spawn a child agent",
      description:
        "Starts a helper agent under you, with its own mission; it reports to the coordinator like you do. " +
        "Refused beyond the depth and children limits. The child is stopped if your own run ends first.",
      inputSchema: {
        child_agent_type: z.string().max(MAX_AGENT_TYPE_CHARS),
        child_prompt: z.string().max(MAX_PROMPT),
        model: z.string().min(1).max(200).optional(),
        effort: z.enum(EFFORTS).optional(),
        task_id: compat.task_id,
        parent_agent_id: z.string().max(MAX_ID_CHARS).optional().describe("accepted for compatibility; must be your own id"),
      },
      outputSchema: { agent_id: z.string(), task_id: z.string(), status: z.string(), depth: z.number().int() },
      annotations: REPORTS,
    },
    async ({ child_agent_type, child_prompt, model, effort, task_id, parent_agent_id }) => {
      const agent = await self({ task_id, agent_id: parent_agent_id });
      if (!agent.ok) return toolResult(agent);
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
      if (!child.ok) return toolResult(child);
      return toolResult(ok({ agent_id: child.value.id, task_id: child.value.taskId, status: child.value.status, depth: child.value.depth }));
    },
  );

  server.registerTool(
    "get_task_context",
    {
      title: "Task context",
      description: "Your identity (agent id, type, parent, depth) and your task's description and shared context.",
      inputSchema: {},
      outputSchema: {
        task_id: z.string(),
        description: z.string(),
        context: z.record(z.string(), z.unknown()),
        agent: z.object({ agent_id: z.string(), type: z.string(), parent: z.string().nullable(), depth: z.number().int() }),
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async () => {
      const agent = await self({});
      if (!agent.ok) return toolResult(agent);
      const task = corral.task(agent.value.taskId);
      if (task === null) return toolResult(fail("UNKNOWN_TASK", `no task ${agent.value.taskId}`));
      return toolResult(
        ok({
          task_id: task.id,
          description: task.description,
          context: task.context,
          agent: { agent_id: agent.value.id, type: agent.value.type, parent: agent.value.parentId, depth: agent.value.depth },
        }),
      );
    },
  );
}
