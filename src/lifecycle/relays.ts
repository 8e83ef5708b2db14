import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";

/** Serves one agent's tools on a connection that came in on that agent's relay socket. */
export type RelayHandler = (agent: AgentId, connection: Socket) => void;

/** sun_path holds 108 bytes with the closing NUL. */
const MAX_SOCKET_PATH = 107;
const RELAY_SOCKET = "mcp.sock";

/**
 * The per-agent Unix sockets on which the corral process that owns contained agents serves
 * their tools. A contained agent cannot open the database (it does not see the state dir), so
 * its agent server relays its stdio to the socket in its relay dir, which is bound into that
 * agent's sandbox alone (the dir, not the socket file: a corral that adopts the agent after a
 * restart makes a new socket there, which the agent then sees). Which socket a
 * connection came in on is who it speaks for: no token is involved.
 */
export class Relays {
  private handler: RelayHandler | null = null;
  private readonly listening = new Map<AgentId, { server: Server; connections: Set<Socket> }>();

  /** `dirOf` is the agent's relay dir, from the state dir's layout (Workspaces.relayDir). */
  constructor(private readonly dirOf: (id: AgentId) => string) {}

  /** Sets how connections are served; until then this process cannot run contained agents. */
  serveWith(handler: RelayHandler): void {
    this.handler = handler;
  }

  get serving(): boolean {
    return this.handler !== null;
  }

  private socketPath(id: AgentId): Result<string> {
    const path = join(this.dirOf(id), RELAY_SOCKET);
    if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return ok(path);
    return fail("LAUNCH_FAILED", `the relay socket path ${path} is longer than the ${MAX_SOCKET_PATH} bytes a socket path may have; set CORRAL_HOME to a shorter path`);
  }

  /** Makes the agent's relay dir (0700) and listens on its socket, replacing one a dead corral left. */
  async listen(id: AgentId): Promise<Result<string>> {
    const handler = this.handler;
    if (handler === null) return fail("LAUNCH_FAILED", "this corral process does not serve agents' tools, which a contained agent needs");
    const path = this.socketPath(id);
    if (!path.ok) return path;
    this.close(id);
    const server = createServer();
    const connections = new Set<Socket>();
    server.on("connection", (connection) => {
      connections.add(connection);
      connection.once("close", () => connections.delete(connection));
      handler(id, connection);
    });
    try {
      mkdirSync(this.dirOf(id), { recursive: true, mode: 0o700 });
      rmSync(path.value, { force: true });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path.value, () => {
          server.off("error", reject);
          resolve();
        });
      });
      // The socket file takes the umask; its dir is private already, the file is made so too.
      chmodSync(path.value, 0o600);
    } catch (cause) {
      server.close();
      return fail("LAUNCH_FAILED", `cannot listen on the relay socket ${path.value}: ${describeUnknown(cause)}`);
    }
    this.listening.set(id, { server, connections });
    return path;
  }

  /** Stops serving the agent: its socket and every connection on it. */
  close(id: AgentId): void {
    const open = this.listening.get(id);
    if (open === undefined) return;
    this.listening.delete(id);
    open.server.close();
    for (const connection of open.connections) connection.destroy();
  }

  closeAll(): void {
    for (const id of [...this.listening.keys()]) this.close(id);
  }
}
