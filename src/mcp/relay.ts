import type { Corral } from "../lifecycle/corral.js";
import type { RelayHandler } from "../lifecycle/relays.js";
import { createAgentServer } from "./servers.js";
import { BoundedStdioTransport } from "./stdio-transport.js";

/**
 * The owner's side: each connection on an agent's relay socket gets an agent server scoped to
 * that agent, which the socket alone names.
 */
export function serveRelayedAgents(corral: Corral, version: string): RelayHandler {
  return (id, connection) => {
    const server = createAgentServer(corral, version, () => Promise.resolve(corral.living(id)));
    connection.once("close", () => void server.close());
    // The same bounded transport as the coordinator's: an oversized message is answered, not fatal.
    void server.connect(new BoundedStdioTransport(connection, connection));
  };
}
