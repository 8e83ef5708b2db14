import { isIP } from "node:net";
import type { Logger } from "pino";
import { HTTP_SESSION_IDLE_MS, MAX_HTTP_IN_FLIGHT, MAX_HTTP_SESSIONS, MAX_REQUEST_BYTES } from "../../domain/bounds.js";
import { fail, ok, type Result } from "../../domain/errors.js";
import type { Corral } from "../../lifecycle/corral.js";
import { createCoordinatorServer } from "../servers.js";
import { coordinatorRoute } from "./coordinator-route.js";
import { listen, type Listener } from "./listener.js";
import { isLoopback } from "./loopback.js";
import { TOKEN_VARIABLE, type HttpToken } from "./token.js";

/** The path MCP clients post to. */
export const MCP_PATH = "/mcp";

export interface HttpServeOptions {
  readonly host: string;
  readonly port: number;
  readonly allowRemote: boolean;
  readonly token: HttpToken;
  readonly version: string;
}

/**
 * Whether corral may listen on `host`: loopback always; another address only when asked for
 * (`--allow-remote`), named exactly (a wildcard would accept Host headers corral cannot check),
 * and with a token the user chose and gave in CORRAL_HTTP_TOKEN, never one made on the spot.
 */
export function checkBind(host: string, allowRemote: boolean, tokenFromEnv: boolean): Result<void> {
  if (isLoopback(host)) return ok(undefined);
  if (!allowRemote) {
    return fail("CONFIG_INVALID", `${host} is not a loopback address: other machines could reach corral there; add --allow-remote if that is what you want`, "host");
  }
  if (isIP(host) === 0) return fail("CONFIG_INVALID", `${host} is a name: with --allow-remote, give the IP address to listen on`, "host");
  if (host === "0.0.0.0" || host === "::") return fail("CONFIG_INVALID", `${host} listens everywhere: name the one address clients will connect to`, "host");
  if (!tokenFromEnv) {
    return fail("CONFIG_INVALID", `--allow-remote needs a token of your own in ${TOKEN_VARIABLE}, not the token file's: set it to a long random secret (e.g. openssl rand -base64 32)`);
  }
  return ok(undefined);
}

export interface HttpServing {
  readonly listener: Listener;
  /** Resolves, once the corral is shut down, with the signal that stopped it. */
  readonly stopped: Promise<NodeJS.Signals>;
}

/**
 * Serves the coordinator's tools over streamable HTTP at `MCP_PATH` until SIGINT, SIGTERM or
 * SIGHUP, then closes the listener (ending every session) and shuts the corral down, killing
 * or detaching its agents as its settings say, as `serveStdio` does. No client leaving stops
 * it: over HTTP there is no such moment, so it runs until signalled.
 */
export async function serveHttp(corral: Corral, options: HttpServeOptions, logger: Logger): Promise<Result<HttpServing>> {
  const allowed = checkBind(options.host, options.allowRemote, options.token.source.kind === "env");
  if (!allowed.ok) return allowed;
  const route = coordinatorRoute({
    path: MCP_PATH,
    token: options.token.token,
    createServer: () => createCoordinatorServer(corral, options.version),
    maxSessions: MAX_HTTP_SESSIONS,
    idleMs: HTTP_SESSION_IDLE_MS,
    logger,
  });
  const listener = await listen({
    host: options.host,
    port: options.port,
    routes: [route],
    maxBodyBytes: MAX_REQUEST_BYTES,
    maxInFlight: MAX_HTTP_IN_FLIGHT,
    logger,
  });
  if (!listener.ok) {
    await route.close();
    return listener;
  }
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => () => {
      if (stopping) return;
      stopping = true;
      logger.info({ why: signal }, "shutting down");
      void (async () => {
        await listener.value.close();
        await corral.shutdown(`corral stopped: ${signal}`);
        resolve(signal);
      })();
    };
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, stop(signal));
  });
  logger.info({ url: `${listener.value.origin}${MCP_PATH}` }, "serving MCP over HTTP");
  return ok({ listener: listener.value, stopped });
}
