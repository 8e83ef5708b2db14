import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";

/** How long the agent's side tries to reach a corral again after its connection dropped. */
const RECONNECT_WINDOW_MS = 60_000;
const RECONNECT_POLL_MS = 250;
/** The id of an `initialize` the relay replays to a new owner; its answer is not the client's. */
const REPLAY_ID = "corral-relay-replay";

/**
 * The agent's side, inside its sandbox (`corral serve --agent` with CORRAL_AGENT_RELAY): it
 * opens no database and relays its stdio, line by line (MCP's stdio framing), to the relay
 * socket. When the owning corral dies, a corral that adopts the agent listens on the socket
 * again: the relay reconnects, replays the client's `initialize` (whose answer it keeps to
 * itself), and the agent's CLI goes on with its tools as if nothing happened. Requests that
 * were in flight when the connection dropped get no answer.
 */
export async function relayStdio(path: string, logger: Logger): Promise<number> {
  let initialize: string | null = null;
  let initialized: string | null = null;
  let socket: Socket | null = null;
  const waiting: string[] = [];
  let stdinOpen = true;

  const send = (line: string): void => {
    if (socket === null) waiting.push(line);
    else socket.write(`${line}\n`);
  };

  const open = (): Promise<boolean> =>
    new Promise((resolve) => {
      const next = connect(path);
      next.once("error", (cause) => {
        logger.debug({ err: cause.message }, "relay socket not reachable");
        resolve(false);
      });
      next.once("connect", () => {
        next.removeAllListeners("error");
        next.on("error", (cause) => logger.warn({ err: cause.message }, "relay connection failed"));
        socket = next;
        // A handshake still waiting to be sent goes as it is; one an earlier corral answered is
        // replayed for this one.
        if (initialize !== null && !waiting.includes(initialize)) {
          next.write(`${JSON.stringify({ ...(JSON.parse(initialize) as Record<string, unknown>), id: REPLAY_ID })}\n`);
          if (initialized !== null) next.write(`${initialized}\n`);
        }
        for (const line of waiting.splice(0)) next.write(`${line}\n`);
        forEachLine(next, (line) => {
          if (!line.includes(REPLAY_ID) || idOf(line) !== REPLAY_ID) process.stdout.write(`${line}\n`);
        });
        next.once("close", () => {
          socket = null;
          if (stdinOpen) void reconnect();
        });
        resolve(true);
      });
    });

  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));

  const reconnect = async (): Promise<void> => {
    logger.warn("no corral serves this agent right now; waiting for one to adopt it");
    const deadline = performance.now() + RECONNECT_WINDOW_MS;
    while (stdinOpen && performance.now() < deadline) {
      await sleep(RECONNECT_POLL_MS);
      if (await open()) return;
    }
    if (stdinOpen) {
      logger.error(`no corral listens on ${path}: the agent's tools are gone`);
      finish(1);
    }
  };

  forEachLine(process.stdin, (line) => {
    const method = methodOf(line);
    if (method === "initialize") initialize = line;
    else if (method === "notifications/initialized") initialized = line;
    send(line);
  });
  const stop = (): void => {
    stdinOpen = false;
    (socket as Socket | null)?.end();
    finish(0);
  };
  process.stdin.once("end", stop);
  process.stdin.once("close", stop);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, stop);

  // The corral that launched the agent listens before it starts; failing that, its owner died
  // meanwhile, and one that adopts the agent will listen.
  if (!(await open())) void reconnect();
  return done;
}

function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    let end = buffered.indexOf("\n");
    while (end >= 0) {
      const line = buffered.slice(0, end).replace(/\r$/, "");
      buffered = buffered.slice(end + 1);
      if (line !== "") onLine(line);
      end = buffered.indexOf("\n");
    }
  });
}

/** A JSON-RPC message's method, or null for a response or a line that is not JSON-RPC. */
function methodOf(line: string): string | null {
  const message = parseMessage(line);
  return typeof message?.method === "string" ? message.method : null;
}

function idOf(line: string): unknown {
  return parseMessage(line)?.id;
}

function parseMessage(line: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : null;
  } catch (cause) {
    // Not JSON: the relay passes it on as it is, and the other side answers it as a parse error.
    if (cause instanceof SyntaxError) return null;
    throw cause;
  }
}
