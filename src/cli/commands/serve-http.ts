import { VERSION } from "../version.js";
import { loadConfig } from "../../lifecycle/config-loader.js";
import { Corral } from "../../lifecycle/corral.js";
import { createLogger } from "../../lifecycle/logger.js";
import { serveOwnAgents } from "../../mcp/agent-serving.js";
import { checkBind, MCP_PATH, serveHttp } from "../../mcp/http/serve.js";
import { coordinatorToken, TOKEN_VARIABLE } from "../../mcp/http/token.js";
import { die } from "../exit.js";
import { signalExitCode } from "../signals.js";

export interface ServeHttpFlags {
  readonly host: string;
  readonly port: number;
  readonly allowRemote: boolean;
}

/**
 * `corral serve --http`: the coordinator's tools over streamable HTTP. Prints one line on
 * stdout, the URL to give an MCP client, once it listens; logs go to stderr. Runs until a
 * signal, then exits as serve does: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
 */
export async function serveHttpCommand(flags: ServeHttpFlags): Promise<never> {
  const config = loadConfig();
  if (!config.ok) die(config.error);
  // Before anything is opened: a refused address must not adopt agents first.
  const bind = checkBind(flags.host, flags.allowRemote, (process.env[TOKEN_VARIABLE] ?? "") !== "");
  if (!bind.ok) die(bind.error);
  const logger = createLogger(config.value.logLevel);
  const corral = Corral.open(config.value, logger, { watch: true });
  if (!corral.ok) die(corral.error);
  // After the open, which makes the state dir the token file lives in.
  const token = coordinatorToken(config.value.home);
  if (!token.ok) {
    await corral.value.close();
    die(token.error);
  }
  serveOwnAgents(corral.value, VERSION, logger);
  const serving = await serveHttp(corral.value, { ...flags, token: token.value, version: VERSION }, logger);
  if (!serving.ok) {
    await corral.value.close();
    die(serving.error);
  }
  if (token.value.source.kind === "file" && token.value.source.made) logger.info({ path: token.value.source.path }, "made the HTTP token file");
  process.stdout.write(`${serving.value.listener.origin}${MCP_PATH}\n`);
  process.exit(signalExitCode(await serving.value.stopped));
}
