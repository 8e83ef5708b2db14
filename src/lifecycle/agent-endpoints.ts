import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";

/** Serves one request to an agent endpoint; it authenticates the agent itself. */
export type EndpointHandler = (request: IncomingMessage, response: ServerResponse) => void;

const LOOPBACK = "127.0.0.1";
/** The path of the MCP endpoint on every agent listener. */
export const AGENT_ENDPOINT_PATH = "/mcp";
/** A request that has not arrived whole by then is cut off: a slow client cannot hold a socket for ever. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Far above what the agents of one corral open (each CLI keeps one connection alive). */
const MAX_CONNECTIONS = 4096;

/**
 * The loopback HTTP listeners on which the corral process that owns agents serves their tools.
 * An agent's CLI is given its URL when it launches and keeps it for its whole run, so the port
 * is part of the agent's record: a corral that adopts the agent after its owner died listens
 * on that same port again (the endpoint keeps no session, so the agent's next call simply
 * works), besides its own port for the agents it launches. Who an agent is comes from its
 * token and from which process holds the connection (see AgentCalls.authenticateConnection),
 * never from which listener it reached.
 */
export class AgentEndpoints {
  private handler: EndpointHandler | null = null;
  private own: Promise<Result<string>> | null = null;
  private readonly listening = new Map<number, Server>();

  serveWith(handler: EndpointHandler): void {
    this.handler = handler;
  }

  get serving(): boolean {
    return this.handler !== null;
  }

  /** The URL this process gives the agents it launches; its listener starts at the first need. */
  url(): Promise<Result<string>> {
    this.own ??= this.listen(0).then((port) => (port.ok ? ok(urlOf(port.value)) : port));
    return this.own;
  }

  /**
   * Listens again on the port of an adopted agent's URL, unless this process listens there
   * already. Fails when another process holds the port: that agent's calls go unanswered.
   */
  async adopt(url: string): Promise<Result<void>> {
    const port = portOf(url);
    if (!port.ok) return port;
    if (this.listening.has(port.value)) return ok(undefined);
    const listened = await this.listen(port.value);
    return listened.ok ? ok(undefined) : listened;
  }

  /** Whether this process listens where `url` points. */
  serves(url: string): boolean {
    const port = portOf(url);
    return port.ok && this.listening.has(port.value);
  }

  /** Stops every listener and drops every connection: this process no longer serves agents. */
  closeAll(): void {
    for (const server of this.listening.values()) {
      server.close();
      server.closeAllConnections();
    }
    this.listening.clear();
    this.own = null;
  }

  private async listen(port: number): Promise<Result<number>> {
    const handler = this.handler;
    if (handler === null) return fail("LAUNCH_FAILED", "this corral process does not serve agents' tools over HTTP");
    const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, handler);
    server.maxConnections = MAX_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, LOOPBACK, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (cause) {
      server.close();
      return fail("LAUNCH_FAILED", `cannot listen for agents' tools on ${LOOPBACK}:${port}: ${describeUnknown(cause)}`);
    }
    const bound = (server.address() as AddressInfo).port;
    this.listening.set(bound, server);
    return ok(bound);
  }
}

function urlOf(port: number): string {
  return `http://${LOOPBACK}:${port}${AGENT_ENDPOINT_PATH}`;
}

function portOf(url: string): Result<number> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    if (cause instanceof TypeError) return fail("INVALID_INPUT", `an agent's tools URL on record is not a URL: ${url}`);
    throw cause;
  }
  const port = Number(parsed.port);
  if (parsed.hostname !== LOOPBACK || !Number.isInteger(port) || port <= 0) {
    return fail("INVALID_INPUT", `an agent's tools URL on record is not a loopback URL with a port: ${url}`);
  }
  return ok(port);
}
