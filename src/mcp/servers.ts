import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Logger } from "pino";
import type { AgentId } from "../domain/ids.js";
import type { Corral } from "../lifecycle/corral.js";
import { agentTools, type AgentIdentity } from "./agent-tools.js";
import { coordinatorTools } from "./coordinator-tools.js";
import { registerResources } from "./resources.js";
import { BoundedStdioTransport } from "./stdio-transport.js";
import { serveTools } from "./tool.js";

/** The coordinator's face: full authority over its tasks. */
export function createCoordinatorServer(corral: Corral, version: string): McpServer {
  const server = new McpServer(
    { name: "corral", version },
    {
      instructions:
        "corral runs headless coding agents in the background. Create a task (create_real_task), deploy agents into it " +
        "(deploy_headless_agent), then wait_for_agents or get_real_task_status, read get_agent_output, and kill_real_agent " +
        "what is no longer needed. Every agent's processes and files are cleaned up when it ends.",
    },
  );
  serveTools(server, coordinatorTools(corral), corral.config.mcpText);
  registerResources(server, corral);
  return server;
}

/** An agent's own face: scoped to the one agent `identity` names. */
export function createAgentServer(corral: Corral, version: string, identity: AgentIdentity): McpServer {
  const server = new McpServer(
    { name: "corral-agent", version },
    {
      instructions:
        "Report your progress (update_agent_progress) and findings (report_agent_finding) to the coordinator as you work; " +
        "report status 'completed' when your mission is done.",
    },
  );
  serveTools(server, agentTools(corral, identity), corral.config.mcpText);
  return server;
}

/**
 * The identity of an agent server started with a token: the first call checks the token
 * against the process tree (see Corral.authenticate); once it passed, the server is known to
 * run inside that agent, which no later reparenting undoes, and later calls only check that
 * the agent still lives.
 */
export function tokenIdentity(corral: Corral, token: string | undefined, caller: number): AgentIdentity {
  let verified: AgentId | null = null;
  return async () => {
    if (verified !== null) return corral.living(verified);
    const agent = await corral.authenticate(token, caller);
    if (agent.ok) verified = agent.value.id;
    return agent;
  };
}

/**
 * Serves MCP on stdin/stdout until the client goes away or a signal arrives, then shuts the
 * service down (killing or detaching its agents, per its settings) and returns the signal that
 * stopped it, or null when the client went away. The client is
 * gone when the transport closes: stdin ends or fails, or stdout cannot be written. A request
 * too large to read, or a reply that could not be sent, is not the client leaving.
 */
export async function serveStdio(server: McpServer, corral: Corral, logger: Logger): Promise<NodeJS.Signals | null> {
  let stopping: Promise<void> | null = null;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ why }, "shutting down");
      await server.close();
      await corral.shutdown(`corral stopped: ${why}`);
    })();
    return stopping;
  };
  const transport = new BoundedStdioTransport();
  // Set before connect(), which chains the server's own handlers after these.
  transport.onerror = (error) => logger.warn({ err: error.message }, "MCP transport");
  const done = new Promise<NodeJS.Signals | null>((resolve) => {
    const finish = (why: string, signal: NodeJS.Signals | null) => () => void stop(why).then(() => resolve(signal));
    transport.onclose = finish("its MCP client went away", null);
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, finish(signal, signal));
  });
  await server.connect(transport);
  logger.info("serving MCP on stdio");
  return done;
}
