import type { Logger } from "pino";
import type { AgentHandlers, Corral } from "../lifecycle/corral.js";
import { serveAgentsOverHttp } from "./http/agent-endpoint.js";
import { serveRelayedAgents } from "./relay.js";

/** How a corral process that owns agents serves their tools: over loopback HTTP, and on contained agents' relay sockets. */
export function agentHandlers(corral: Corral, version: string, logger: Logger): AgentHandlers {
  return { relay: serveRelayedAgents(corral, version), http: serveAgentsOverHttp(corral, version, logger) };
}

export function serveOwnAgents(corral: Corral, version: string, logger: Logger): void {
  corral.serveAgentsWith(agentHandlers(corral, version, logger));
}
