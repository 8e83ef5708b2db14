import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Logger } from "pino";
import { describeUnknown, type Result } from "../../domain/errors.js";
import type { AgentId } from "../../domain/ids.js";
import { AGENT_ENDPOINT_PATH, type EndpointHandler } from "../../lifecycle/agent-endpoints.js";
import type { Corral } from "../../lifecycle/corral.js";
import { hashToken } from "../../lifecycle/tokens.js";
import type { AgentRecord } from "../../store/records.js";
import { createAgentServer } from "../servers.js";
import { bearerToken, readBoundedJson, refuse } from "./requests.js";

/** Who a connection was found to speak for, and by which token: a connection never changes hands. */
interface Verified {
  readonly tokenHash: string;
  readonly agent: AgentId;
}

/**
 * Agents' tools over MCP's streamable HTTP transport, on the loopback listeners of the corral
 * that owns them (lifecycle/agent-endpoints.ts). Stateless: each POST is a whole exchange
 * with a server made for it, so an agent whose owner died is served by its adopter on the
 * same URL with no session to restore (claude 2.1.197 calls again on the same URL after a
 * refused connection). An agent is its bearer token plus the process holding the
 * connection, checked once per connection (AgentCalls.authenticateConnection); a browser
 * (any Origin) and a rebound Host are refused before anything else.
 */
export function serveAgentsOverHttp(corral: Corral, version: string, logger: Logger): EndpointHandler {
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

  const serve = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== AGENT_ENDPOINT_PATH) return refuse(response, 404, `no such endpoint: agents' tools are at ${AGENT_ENDPOINT_PATH}`);
    if (request.headers.origin !== undefined) return refuse(response, 403, "a request from a web page (with an Origin) is refused: only agents' CLIs call these tools");
    const port = request.socket.localPort;
    if (request.headers.host !== `127.0.0.1:${port}` && request.headers.host !== `localhost:${port}`) {
      return refuse(response, 403, `Host ${request.headers.host ?? "(none)"} is not this loopback endpoint`);
    }
    if (request.method !== "POST") {
      response.setHeader("Allow", "POST");
      return refuse(response, 405, "agents' tools keep no session: POST each JSON-RPC message");
    }
    const token = bearerToken(request);
    if (token === null) {
      response.setHeader("WWW-Authenticate", 'Bearer realm="corral-agent"');
      return refuse(response, 401, "no bearer token: an agent's CLI sends its CORRAL_AGENT_TOKEN as `Authorization: Bearer <token>`");
    }
    const body = await readBoundedJson(request);
    if (!body.ok) return refuse(response, body.error.status, body.error.message);
    const agent = await identify(request, token);
    if (!agent.ok) return refuse(response, 403, `${agent.error.code}: ${agent.error.message}`);
    const id = agent.value.id;
    const server = createAgentServer(corral, version, () => Promise.resolve(corral.living(id)));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    response.once("close", () => void server.close());
    await server.connect(transport);
    await transport.handleRequest(request, response, body.value);
  };

  return (request, response) => {
    serve(request, response).catch((cause: unknown) => {
      logger.warn({ err: describeUnknown(cause) }, "serving an agent's tool call over HTTP failed");
      if (!response.headersSent) refuse(response, 500, "corral could not serve this call; see its log");
      else response.destroy();
    });
  };
}
