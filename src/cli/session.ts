import type { Logger } from "pino";
import { LOG_LEVEL_VARIABLE } from "../domain/log-levels.js";
import { loadConfig } from "../lifecycle/config-loader.js";
import { type AgentHandlers, Corral } from "../lifecycle/corral.js";
import { createLogger, createPlainLogger } from "../lifecycle/logger.js";
import { die, type Output } from "./exit.js";
import { VERSION } from "./version.js";

/** The short name of LOG_LEVEL_VARIABLE, which asks as much. */
const LOG_VARIABLE = "CORRAL_LOG";

/**
 * A terminal command's logger: JSON lines at `level` only when logs were asked for, else
 * warnings and errors as plain sentences, so a person at a terminal never reads JSON.
 */
export function terminalLogger(level: string): Logger {
  const asked = process.env[LOG_LEVEL_VARIABLE] !== undefined || process.env[LOG_VARIABLE] !== undefined;
  return asked ? createLogger(level) : createPlainLogger();
}

/**
 * Agents' tools, served by the MCP layer, which is loaded at the first connection or request:
 * a command that never deploys or adopts an agent never pays for the MCP SDK. A socket
 * buffers what arrives until the server's transport reads it.
 */
function lazyAgentHandlers(corral: Corral, logger: Logger): AgentHandlers {
  let serving: Promise<AgentHandlers> | null = null;
  const handlers = (): Promise<AgentHandlers> => {
    serving ??= import("../mcp/agent-serving.js").then((module) => module.agentHandlers(corral, VERSION, logger));
    return serving;
  };
  const unserved = (error: unknown): void => {
    logger.error({ err: error }, "agents' tools could not be loaded");
  };
  return {
    relay: (id, connection) => void handlers().then((serve) => serve.relay(id, connection), unserved),
    http: (request, response) =>
      void handlers().then(
        (serve) => serve.http(request, response),
        (error: unknown) => {
          unserved(error);
          response.writeHead(503).end();
        },
      ),
  };
}

/** A corral for one command: no background watching, closed when the command is done. */
export async function withCorral<T>(work: (corral: Corral) => Promise<T> | T, output: Output = {}): Promise<T> {
  const config = loadConfig();
  if (!config.ok) die(config.error, 2, output);
  const logger = terminalLogger(config.value.logLevel);
  const corral = Corral.open(config.value, logger, { watch: false });
  if (!corral.ok) die(corral.error, 2, output);
  corral.value.serveAgentsWith(lazyAgentHandlers(corral.value, logger));
  try {
    return await work(corral.value);
  } finally {
    await corral.value.close();
  }
}
