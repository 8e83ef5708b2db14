import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Logger } from "pino";
import { MAX_AGENT_CALLS_IN_FLIGHT, MAX_REQUEST_BYTES } from "../../domain/bounds.js";
import type { Result } from "../../domain/errors.js";
import type { AgentId } from "../../domain/ids.js";
import { AGENT_ENDPOINT_PATH, type EndpointHandler } from "../../lifecycle/agent-endpoints.js";
import type { Corral } from "../../lifecycle/corral.js";
import { hashToken } from "../../lifecycle/tokens.js";
import type { AgentRecord } from "../../store/records.js";
import { createAgentServer } from "../servers.js";
import { bearerToken } from "./bearer.js";
import { messageOf, routeRequests, type Authentication, type Exchange, type Route } from "./listener.js";
import { sendRpcError } from "./replies.js";

/** Who a connection was found to speak for, and by which token: a connection never changes hands. */
interface Verified {
  readonly tokenHash: string;
  readonly agent: AgentId;
}

/**
 * Agents' tools over MCP's streamable HTTP transport, on the loopback listeners of the corral
 * that owns them (lifecycle/agent-endpoints.ts), with the listener's checks of every request
 * (mcp/http/listener.ts). Stateless: each POST is a whole exchange with a server made for it,
 * so an agent whose owner died is served by its adopter on the same URL with no session to
 * restore (claude 2.1.197 calls again on the same URL after a refused connection).
 */
export function serveAgentsOverHttp(corral: Corral, version: string, logger: Logger): EndpointHandler {
  return routeRequests({
    host: "127.0.0.1",
    routes: [agentRoute(corral, version)],
    maxBodyBytes: MAX_REQUEST_BYTES,
    maxInFlight: MAX_AGENT_CALLS_IN_FLIGHT,
    logger,
  });
}

/**
 * An agent is its bearer token plus the process holding the connection, checked once per
 * connection (AgentCalls.authenticateConnection). A browser page is refused whatever its
 * Origin: only agents' CLIs call these tools.
 */
function agentRoute(corral: Corral, version: string): Route {
  const verified = new WeakMap<Socket, Verified>();

  const identify = async (request: IncomingMessage, token: string): Promise<Result<AgentRecord>> => {
    const socket = request.socket;
    const known = verified.get(socket);
    const tokenHash = hashToken(token);
    if (known !== undefined && known.tokenHash === tokenHash) return corral.living(known.agent);
    const agent = await corral.authenticateConnection(token, { serverPort: socket.localPort ?? 0, clientPort: socket.remotePort ?? 0 });
    if (agent.ok) verified.set(socket, { tokenHash, agent: agent.value.id });
    return agent;
  };

  const notAllowed = (exchange: Exchange): Promise<void> => {
    exchange.response.setHeader("Allow", "POST");
    sendRpcError(exchange.response, 405, -32000, "agents' tools keep no session: POST each JSON-RPC message");
    return Promise.resolve();
  };

  const serve = async (exchange: Exchange, id: AgentId): Promise<void> => {
    const parsed = messageOf(exchange);
    if (parsed === null) return;
    const server = createAgentServer(corral, version, () => Promise.resolve(corral.living(id)));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    exchange.response.once("close", () => void server.close());
    await server.connect(transport);
    await transport.handleRequest(exchange.request, exchange.response, parsed.message);
  };

  return {
    path: AGENT_ENDPOINT_PATH,
    async authenticate(request): Promise<Authentication> {
      if (request.headers.origin !== undefined) {
        return { ok: false, status: 403, message: "forbidden: a request from a web page (with an Origin) is refused; only agents' CLIs call these tools" };
      }
      // A method no agent may use is answered as such, before anyone is looked for.
      if (request.method !== "POST") return { ok: true, serve: notAllowed };
      const token = bearerToken(request);
      if (token === null) {
        return { ok: false, status: 401, message: "unauthorized: an agent's CLI sends its CORRAL_AGENT_TOKEN as Authorization: Bearer <token>" };
      }
      const agent = await identify(request, token);
      if (!agent.ok) return { ok: false, status: 403, message: `${agent.error.code}: ${agent.error.message}` };
      const id = agent.value.id;
      return { ok: true, serve: (exchange) => serve(exchange, id) };
    },
    close: () => Promise.resolve(),
  };
}
