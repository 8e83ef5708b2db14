import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "pino";
import { describeUnknown, fail, ok, type CorralError, type Result } from "../../domain/errors.js";
import { hostAllowed, originAllowed } from "./loopback.js";
import { sendRpcError } from "./replies.js";

/**
 * One HTTP request as a route sees it once the listener let it through: its Host and Origin
 * were checked, its caller authenticated by the route's own function, and a POST body read
 * whole within the listener's bound (null for other methods).
 */
export interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly body: Buffer | null;
}

/**
 * The JSON-RPC message of an exchange's body (undefined when it has none), or null once the
 * exchange has been answered 400 for a body that is not JSON.
 */
export function messageOf(exchange: Exchange): { readonly message: unknown } | null {
  if (exchange.body === null) return { message: undefined };
  try {
    return { message: JSON.parse(exchange.body.toString("utf8")) as unknown };
  } catch (cause) {
    if (!(cause instanceof SyntaxError)) throw cause;
    sendRpcError(exchange.response, 400, -32700, `parse error: the body is not JSON (${cause.message})`);
    return null;
  }
}

/** What a route's authentication decides: serve the request (as whom the route knows), or refuse it. */
export type Authentication =
  | { readonly ok: true; readonly serve: (exchange: Exchange) => Promise<void> }
  | { readonly ok: false; readonly status: 401 | 403; readonly message: string };

/**
 * A path the listener serves, with its own authentication: `authenticate` sees the request's
 * headers before its body is read, and gives the function that serves it as the caller it
 * found. `close` ends what the route keeps open (sessions) when the listener closes.
 */
export interface Route {
  readonly path: string;
  authenticate(request: IncomingMessage): Promise<Authentication> | Authentication;
  close(): Promise<void>;
}

/** A route whose authentication finds a principal of its own type, handed to its handler. */
export interface RouteSpec<P> {
  readonly path: string;
  authenticate(request: IncomingMessage): Promise<Result<P>> | Result<P>;
  /**
   * The status a refusal is answered with: 401 (credentials missing or unknown; the answer
   * asks for a bearer token) unless this says 403 (the caller is known and may not do this).
   */
  refusalStatus?(error: CorralError): 401 | 403;
  handle(exchange: Exchange, principal: P): Promise<void>;
  close(): Promise<void>;
}

export function defineRoute<P>(spec: RouteSpec<P>): Route {
  return {
    path: spec.path,
    async authenticate(request) {
      const found = await spec.authenticate(request);
      if (!found.ok) return { ok: false, status: spec.refusalStatus?.(found.error) ?? 401, message: found.error.message };
      const principal = found.value;
      return { ok: true, serve: (exchange) => spec.handle(exchange, principal) };
    },
    close: () => spec.close(),
  };
}

export interface RouterOptions {
  /** The address the server listens on, which a Host header may name. */
  readonly host: string;
  readonly routes: readonly Route[];
  /** A POST body over this is answered 413 and never parsed. */
  readonly maxBodyBytes: number;
  /** Requests being served at once (an open event stream counts); more are answered 503. */
  readonly maxInFlight: number;
  readonly logger: Logger;
}

export interface ListenOptions extends RouterOptions {
  /** The address to listen on; whoever calls this decided it may be reached from there. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface Listener {
  /** Where it listens, e.g. http://127.0.0.1:41234 (an IPv6 address in brackets). */
  readonly origin: string;
  readonly port: number;
  /** Stops accepting, closes every route (ending their sessions), then every connection. */
  close(): Promise<void>;
}

/** How long a client may take to send a request's headers, and the whole request. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 60_000;

/**
 * The requests of one or more HTTP servers, every request checked in the same order —
 * in-flight bound (503), Host naming the server it reached and an Origin, if any, on loopback
 * (403, against DNS rebinding), the route by exact path (404), the route's own authentication
 * (401/403), the body bound (413) — before a route sees it.
 *
 * The SDK's transport has options for the Host and Origin checks (allowedHosts, allowedOrigins,
 * enableDnsRebindingProtection) and for the body (maxRequestBodySize), but they are not used:
 * the first are deprecated in the 1.x SDK in favour of checks in front of it, compare whole
 * header values against fixed lists, and run inside a session's transport, so after the token
 * and only for requests that reach a session; here they run first, for every route alike.
 * The body is read here, and handed to the transport parsed.
 */
export function routeRequests(options: RouterOptions): RequestListener {
  const routes = new Map(options.routes.map((route) => [route.path, route]));
  let inFlight = 0;

  async function dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const port = request.socket.localPort ?? 0;
    const host = request.headers.host;
    if (!hostAllowed(host, options.host, port)) {
      sendRpcError(response, 403, -32000, `forbidden: Host ${JSON.stringify(host ?? "")} does not name this server; connect to ${listenerOrigin(options.host, port)}`);
      return;
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !originAllowed(origin)) {
      sendRpcError(response, 403, -32000, `forbidden: requests from origin ${JSON.stringify(origin)} are refused; only loopback pages may call corral`);
      return;
    }
    const route = routes.get(pathOf(request.url));
    if (route === undefined) {
      sendRpcError(response, 404, -32000, `not found: corral serves ${[...routes.keys()].join(", ")}`);
      return;
    }
    const authentication = await route.authenticate(request);
    if (!authentication.ok) {
      if (authentication.status === 401) response.setHeader("WWW-Authenticate", 'Bearer realm="corral"');
      sendRpcError(response, authentication.status, -32000, authentication.message);
      return;
    }
    const body: Body | { ok: true; body: null } = request.method === "POST" ? await readBody(request, options.maxBodyBytes) : { ok: true, body: null };
    if (!body.ok) {
      if (body.why === "aborted") return;
      sendRpcError(
        response,
        413,
        -32600,
        `request too large: over corral's limit of ${options.maxBodyBytes} bytes per message; send less (see the input bounds in corral's README)`,
      );
      return;
    }
    await authentication.serve({ request, response, body: body.body });
  }

  return (request, response) => {
    inFlight += 1;
    response.once("close", () => (inFlight -= 1));
    if (inFlight > options.maxInFlight) {
      response.setHeader("Retry-After", "1");
      sendRpcError(response, 503, -32000, `corral is serving ${options.maxInFlight} requests already; retry shortly`);
      return;
    }
    void dispatch(request, response).catch((cause: unknown) => {
      options.logger.warn({ err: describeUnknown(cause), path: request.url }, "HTTP request failed");
      if (!response.headersSent) sendRpcError(response, 500, -32603, "internal error: corral could not serve this request; its log says why");
      else response.destroy();
    });
  };
}

/** An HTTP server on the address it is given, serving `routes` as routeRequests does. */
export async function listen(options: ListenOptions): Promise<Result<Listener>> {
  const server: Server = createServer(routeRequests(options));
  // Kept to wait for at close: a socket closeAllConnections destroyed closes a moment later.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;

  const bound = await new Promise<Result<number>>((resolve) => {
    server.once("error", (error) => resolve(fail("CONFIG_INVALID", `cannot listen on ${options.host} port ${options.port}: ${error.message}`, "port")));
    server.listen({ host: options.host, port: options.port }, () => resolve(ok((server.address() as AddressInfo).port)));
  });
  if (!bound.ok) {
    server.close();
    return bound;
  }
  const port = bound.value;
  server.on("error", (error) => options.logger.warn({ err: error.message }, "HTTP server"));

  let closing: Promise<void> | null = null;
  return ok({
    origin: listenerOrigin(options.host, port),
    port,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all(options.routes.map((route) => route.close()));
        const open = [...sockets].map((socket) => new Promise((resolve) => socket.once("close", resolve)));
        server.closeAllConnections();
        await Promise.all([stopped, ...open]);
      })();
      return closing;
    },
  });
}

const listenerOrigin = (host: string, port: number): string => `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

/** The path of a request's target, without its query. */
function pathOf(url: string | undefined): string {
  const target = url ?? "/";
  const query = target.indexOf("?");
  return query === -1 ? target : target.slice(0, query);
}

type Body = { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly why: "too large" | "aborted" };

/**
 * The whole body, or `ok: false` when it is over `max` (declared or received). Past the bound
 * the rest is read and dropped, and the answer waits for its end: a client that is still
 * sending when the connection closes sees a broken pipe, never the 413. The server's request
 * timeout bounds how long that may take.
 */
function readBody(request: IncomingMessage, max: number): Promise<Body> {
  const declared = Number(request.headers["content-length"] ?? Number.NaN);
  let over = Number.isFinite(declared) && declared > max;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max && !over) {
        over = true;
        chunks.length = 0;
      }
      if (!over) chunks.push(chunk);
    });
    request.once("end", () => resolve(over ? { ok: false, why: "too large" } : { ok: true, body: Buffer.concat(chunks) }));
    // A client that went away mid-body has nothing to be answered (after "end", these change nothing).
    request.once("close", () => resolve({ ok: false, why: "aborted" }));
    request.once("error", () => resolve({ ok: false, why: "aborted" }));
  });
}
