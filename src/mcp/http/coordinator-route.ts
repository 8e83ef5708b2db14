import { randomUUID } from "node:crypto";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import { fail, ok } from "../../domain/errors.js";
import { bearerToken, sameToken } from "./bearer.js";
import { defineRoute, messageOf, type Exchange, type Route } from "./listener.js";
import { sendRpcError } from "./replies.js";

export interface CoordinatorRouteOptions {
  readonly path: string;
  /** The bearer token every request must carry. */
  readonly token: string;
  /** A coordinator server for one session: the SDK's server speaks to one transport. */
  readonly createServer: () => McpServer;
  /** Sessions open at once; beyond them a new one ends the idlest, or is answered 503 if none is idle. */
  readonly maxSessions: number;
  /** A session with no call and no open event stream for this long is ended (its client must initialize again). */
  readonly idleMs: number;
  readonly logger: Logger;
}

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  readonly server: McpServer;
  /** Calls of this session being served (POST, DELETE). */
  busy: number;
  /** Event streams the client holds open (GET): a client still connected, though perhaps gone quiet. */
  streams: number;
  /** When a call last started or ended. */
  lastActive: number;
}

/**
 * The coordinator's tools over MCP's streamable HTTP, one SDK transport and server per session
 * (Mcp-Session-Id). Stateful, because a coordinator's calls are a conversation: the SDK's client
 * initializes once and then sends the session id, the server can send progress notifications
 * on a stream the session keeps (wait_for_agents), and a session that ends is a client that
 * left. Sessions are bounded: one without a call or an open stream for `idleMs` is ended, and
 * the one called least recently makes room when a new one needs its place; ending a session
 * never touches agents, which belong to the corral, not to a session.
 */
export function coordinatorRoute(options: CoordinatorRouteOptions): Route {
  const sessions = new Map<string, Session>();
  /** Sessions being initialized, counted against the bound before their id is known. */
  let opening = 0;
  let closed = false;

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, session] of sessions) {
      if (session.busy === 0 && session.streams === 0 && now - session.lastActive > options.idleMs) {
        options.logger.info({ session: id }, "MCP session idle: ended");
        void session.transport.close();
      }
    }
  }, Math.max(1_000, Math.min(60_000, options.idleMs / 4)));
  sweep.unref();

  const track = (session: Session, exchange: Exchange): void => {
    if (exchange.request.method === "GET") {
      session.streams += 1;
      exchange.response.once("close", () => (session.streams -= 1));
      return;
    }
    session.busy += 1;
    session.lastActive = Date.now();
    exchange.response.once("close", () => {
      session.busy -= 1;
      session.lastActive = Date.now();
    });
  };

  /**
   * Ends the session whose last call is the oldest, to make room for a new one: many clients
   * never end theirs (the SDK's client closes without a DELETE, and may leave its event stream
   * open), so a full table is mostly sessions nobody will call again. False when every session
   * is serving a call.
   */
  async function evictIdlest(): Promise<boolean> {
    let idlest: [string, Session] | null = null;
    for (const entry of sessions) if (entry[1].busy === 0 && (idlest === null || entry[1].lastActive < idlest[1].lastActive)) idlest = entry;
    if (idlest === null) return false;
    options.logger.info({ session: idlest[0] }, "MCP session ended to make room for a new one");
    sessions.delete(idlest[0]);
    await idlest[1].transport.close();
    return true;
  }

  async function openSession(exchange: Exchange, message: unknown): Promise<void> {
    if (sessions.size + opening >= options.maxSessions && !(await evictIdlest())) {
      sendRpcError(exchange.response, 503, -32000, `corral has ${options.maxSessions} MCP sessions busy serving requests; retry once one is done`);
      return;
    }
    opening += 1;
    const server = options.createServer();
    let session: Session | null = null;
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session = { transport, server, busy: 0, streams: 0, lastActive: Date.now() };
        sessions.set(id, session);
        track(session, exchange);
      },
    });
    // Set before connect(), which chains the server's own handlers after these.
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      void server.close();
    };
    transport.onerror = (error) => options.logger.debug({ err: error.message }, "MCP HTTP transport");
    try {
      await server.connect(transport);
      await transport.handleRequest(exchange.request, exchange.response, message);
    } finally {
      opening -= 1;
      // An initialize the SDK refused made no session: nothing will ever close its server.
      if (session === null) await transport.close();
    }
  }

  return defineRoute<"coordinator">({
    path: options.path,
    authenticate(request) {
      const token = bearerToken(request);
      if (token === null) return fail("AUTH_REFUSED", "unauthorized: send the corral HTTP token as Authorization: Bearer <token>");
      return sameToken(token, options.token) ? ok("coordinator") : fail("AUTH_REFUSED", "unauthorized: the bearer token is not corral's HTTP token");
    },
    async handle(exchange) {
      if (closed) {
        sendRpcError(exchange.response, 503, -32000, "corral is shutting down");
        return;
      }
      const parsed = messageOf(exchange);
      if (parsed === null) return;
      const message = parsed.message;
      const id = exchange.request.headers["mcp-session-id"];
      if (typeof id === "string") {
        const session = sessions.get(id);
        if (session === undefined) {
          sendRpcError(exchange.response, 404, -32001, "session not found: it ended (idle, deleted, or corral restarted); initialize a new one");
          return;
        }
        track(session, exchange);
        await session.transport.handleRequest(exchange.request, exchange.response, message);
        return;
      }
      if (exchange.request.method === "POST" && isInitializeRequest(message)) {
        await openSession(exchange, message);
        return;
      }
      sendRpcError(exchange.response, 400, -32000, "bad request: no Mcp-Session-Id; send initialize first, then the session id it answers with");
    },
    async close() {
      closed = true;
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((session) => session.transport.close()));
    },
  });
}
