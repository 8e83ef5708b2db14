import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface TokenProxy {
  /** The proxy's origin, e.g. http://127.0.0.1:41235. */
  readonly origin: string;
  close(): Promise<void>;
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

/**
 * A loopback hop that adds `Authorization: Bearer <token>` to every request and passes it on to
 * `target`, for a client that cannot send headers of its own (the conformance suite). A Host
 * naming the proxy is rewritten to name the target, as if the client had connected there; any
 * other Host passes unchanged, so the target still sees a rebinding attempt for what it is.
 * Bodies stream both ways (event streams included).
 */
export async function startTokenProxy(target: URL, token: string): Promise<TokenProxy> {
  let port = 0;
  const retarget = (host: string | undefined): string | undefined => {
    for (const name of LOOPBACK_NAMES) if (host === `${name}:${port}`) return `${name}:${target.port}`;
    return host;
  };
  const server: Server = createServer((incoming: IncomingMessage, outgoing) => {
    const headers = { ...incoming.headers, host: retarget(incoming.headers.host), authorization: `Bearer ${token}` };
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers, agent: false },
      (reply) => {
        outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(outgoing);
      },
    );
    upstream.once("error", () => outgoing.destroy());
    outgoing.once("close", () => upstream.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
