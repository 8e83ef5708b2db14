import type { AgentSpec } from "./backend.js";

const CONTEXT_LABELS: Readonly<Record<string, string>> = {
  background_context: "Background",
  expected_deliverables: "Expected deliverables",
  success_criteria: "Success criteria",
  constraints: "Constraints",
  relevant_files: "Relevant files",
  conversation_history: "Conversation so far",
};

function section(label: string, value: unknown): string {
  if (Array.isArray(value)) return `### ${label}\n${value.map((v) => `- ${String(v)}`).join("\n")}`;
  return `### ${label}\n${typeof value === "string" ? value : JSON.stringify(value, null, 2)}`;
}

/**
 * The whole prompt a headless agent starts from: who it is, its mission, the task's shared
 * context, and how and when to report through its corral tools.
 */
export function composeAgentPrompt(spec: AgentSpec, toolPrefix: string): string {
  const context = Object.entries(spec.task.context)
    .filter(([key]) => key in CONTEXT_LABELS)
    .map(([key, value]) => section(CONTEXT_LABELS[key] as string, value));
  const tool = (name: string): string => `${toolPrefix}${name}`;
  return [
    `You are agent ${spec.agentId}, a "${spec.agentType}" agent working headless (no human will answer you) on task ${spec.taskId}.`,
    spec.parentId === null
      ? "You were deployed by the coordinator."
      : `You were spawned by agent ${spec.parentId}; you are at depth ${spec.depth}.`,
    `Your working directory is ${spec.cwd}.`,
    "",
    "## Your mission",
    spec.prompt,
    "",
    "## The task",
    spec.task.description,
    ...(context.length > 0 ? ["", ...context] : []),
    "",
    "## Reporting (through your corral tools)",
    `- Call ${tool("update_agent_progress")} when you start, after each significant step, and when you finish, with a short status, a message and a progress percentage.`,
    `- Call ${tool("report_agent_finding")} for each thing the coordinator must know (a bug, a risk, a result), with a finding_type and a severity.`,
    `- When your mission is done, call ${tool("update_agent_progress")} with status "completed", progress 100 and a summary of what you did; then stop.`,
    `- If you cannot continue, report status "blocked" or "failed" with the reason before you stop.`,
    `- ${tool("get_task_context")} returns the task's context again; ${tool("spawn_child_agent")} starts a helper agent under you, within corral's limits.`,
  ].join("\n");
}
