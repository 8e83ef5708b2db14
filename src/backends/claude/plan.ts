import { join } from "node:path";
import { ok, type Result } from "../../domain/errors.js";
import { composeAgentPrompt } from "../agent-prompt.js";
import { AGENT_TOKEN_VARIABLE, RELAY_VARIABLE, type AgentSpec, type AgentToolsRoute, type BackendContext, type BackendPlan } from "../backend.js";
import type { ClaudeSettings } from "./settings.js";

/** The name corral's MCP server has in each agent's config: its tools are mcp__corral__*. */
export const CORRAL_SERVER = "corral";

/**
 * Variables a Claude Code session sets for the processes it starts. An agent launched by a
 * corral that itself runs inside Claude Code would inherit them and take itself for a child
 * session of the coordinator (or look for a descriptor that is not there), so they are removed.
 */
export const PARENT_SESSION_VARIABLES = [
  "CLAUDECODE",
  "CLAUDE_CODE_ENTRYPOINT",
  "CLAUDE_CODE_SESSION_ID",
  "CLAUDE_CODE_SESSION_KIND",
  "CLAUDE_CODE_SESSION_NAME",
  "CLAUDE_CODE_SESSION_ACCESS_TOKEN",
  "CLAUDE_CODE_CHILD_SESSION",
  "CLAUDE_CODE_SSE_PORT",
  "CLAUDE_CODE_EXECPATH",
  "CLAUDE_CODE_COORDINATOR_MODE",
  "CLAUDE_CODE_WORKER_EPOCH",
  "CLAUDE_CODE_REMOTE_SESSION_ID",
  "CLAUDE_CODE_RESUME_INTERRUPTED_TURN",
  "CLAUDE_CODE_RESUME_PROMPT",
  "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR",
  "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
] as const;

const PROMPT_FILE = "prompt.md";
const MCP_FILE = "mcp.json";

/**
 * `claude -p` reporting through corral's agent MCP server: the argv, the environment, the
 * prompt on stdin and the MCP config naming the agent server.
 */
export function claudePlan(settings: ClaudeSettings, context: BackendContext, spec: AgentSpec): Result<BackendPlan> {
  const mcpConfig = { mcpServers: { [CORRAL_SERVER]: corralServerEntry(context, spec.tools) } };
  const argv = [
    settings.path,
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--mcp-config",
    join(spec.dir, MCP_FILE),
    ...(settings.strictMcp ? ["--strict-mcp-config"] : []),
    "--allowedTools",
    `mcp__${CORRAL_SERVER}`,
    ...settings.allowedTools,
    "--permission-mode",
    settings.permissionMode,
    ...(spec.model === null ? [] : ["--model", spec.model]),
    ...(spec.effort === null ? [] : ["--effort", spec.effort]),
  ];
  const env: Record<string, string | null> = Object.fromEntries(PARENT_SESSION_VARIABLES.map((name) => [name, null]));
  // The CLI keeps per-session scratch files under TMPDIR; inside the agent dir they go
  // with the agent's cleanup instead of piling up in /tmp.
  env.TMPDIR = join(spec.dir, "tmp");
  // `claude -p` starts its first turn without waiting for MCP servers still starting, so
  // an agent whose first act is to report would find no corral tool (checked with 2.1.197).
  env.MCP_CONNECTION_NONBLOCKING = "0";
  if (spec.tools.via !== "relay") env[AGENT_TOKEN_VARIABLE] = spec.tools.token;
  env.CORRAL_AGENT_ID = spec.agentId;
  env.CORRAL_TASK_ID = spec.taskId;
  return ok({
    dirs: ["tmp"],
    files: { [PROMPT_FILE]: composeAgentPrompt(spec, `mcp__${CORRAL_SERVER}__`), [MCP_FILE]: JSON.stringify(mcpConfig, null, 2) },
    argv,
    env,
    stdin: PROMPT_FILE,
  });
}

/**
 * corral's entry in the agent's MCP config. The CLI expands `${VAR}` from its own environment
 * in a stdio server's env and an http server's headers (checked with 2.1.197): the token stays
 * out of this file, which other agents of the same user could read, and travels only in the
 * agent's environment.
 */
function corralServerEntry(context: BackendContext, tools: AgentToolsRoute): Record<string, unknown> {
  const token = `\${${AGENT_TOKEN_VARIABLE}}`;
  switch (tools.via) {
    case "http":
      return { type: "http", url: tools.url, headers: { Authorization: `Bearer ${token}` } };
    case "server":
      return { type: "stdio", command: context.agentServer.command, args: context.agentServer.args, env: { [AGENT_TOKEN_VARIABLE]: token, CORRAL_HOME: context.agentServer.home } };
    case "relay":
      return { type: "stdio", command: context.agentServer.command, args: context.agentServer.args, env: { [RELAY_VARIABLE]: tools.socket } };
  }
}
