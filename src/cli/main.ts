#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from "commander";
import { LOG_LEVELS } from "../domain/config.js";
import { loadConfig } from "../lifecycle/config-loader.js";
import { Corral } from "../lifecycle/corral.js";
import { createLogger } from "../lifecycle/logger.js";
import { RELAY_VARIABLE } from "../backends/backend.js";
import { relayStdio, serveRelayedAgents } from "../mcp/relay.js";
import { createAgentServer, createCoordinatorServer, serveStdio, tokenIdentity } from "../mcp/servers.js";
import { registerAttach } from "./commands/attach.js";
import { registerDemo } from "./commands/demo.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerGc } from "./commands/gc.js";
import { registerKill } from "./commands/kill.js";
import { registerLogs } from "./commands/logs.js";
import { registerPs } from "./commands/ps.js";
import { registerRun } from "./commands/run.js";
import { registerStats } from "./commands/stats.js";
import { die, LOG_LEVEL_VARIABLE } from "./session.js";
import { signalExitCode } from "./signals.js";
import { VERSION } from "./version.js";

const program = new Command()
  .name("corral")
  .description(
    "Runs headless coding-agent CLIs as supervised background agents, and releases every " +
      "process, log, temp file and limits slot each one takes, verified, whatever way it ends.",
  )
  .version(VERSION, "-V, --version", "print the version")
  .helpOption("-h, --help", "show this help")
  .addOption(
    new Option("--log-level <level>", "log JSON lines to stderr from this level on (default: none, warnings as plain sentences; serve: info)").choices(LOG_LEVELS),
  )
  .showHelpAfterError()
  // Set as the variable, so that the configuration, and the agents' own servers, see it too.
  .hook("preAction", (command) => {
    const level = command.opts<{ logLevel?: string }>().logLevel;
    if (level !== undefined) process.env[LOG_LEVEL_VARIABLE] = level;
  });

program
  .command("serve")
  .description("serve MCP on stdin/stdout for Claude Code or any MCP client, or over HTTP with --http (logs go to stderr)")
  .option("--agent", "serve an agent's own tools, for the agent named by CORRAL_AGENT_TOKEN (corral's agents start this)")
  .option("--http", "serve the coordinator's tools over streamable HTTP instead, at the URL printed on stdout (bearer token: CORRAL_HTTP_TOKEN, else $CORRAL_HOME/http-token)")
  .option("--host <address>", "with --http: the address to listen on", "127.0.0.1")
  .option("--port <n>", "with --http: the port (0: a free one)", parsePort, 0)
  .option("--allow-remote", "with --http: allow a --host other machines can reach (needs CORRAL_HTTP_TOKEN)")
  .action(async (options: { agent?: boolean; http?: boolean; host: string; port: number; allowRemote?: boolean }, command: Command) => {
    if (options.http === true) {
      if (options.agent === true) command.error("error: --http serves the coordinator's tools; --agent cannot be combined with it");
      const { serveHttpCommand } = await import("./commands/serve-http.js");
      await serveHttpCommand({ host: options.host, port: options.port, allowRemote: options.allowRemote === true });
    }
    const relay = process.env[RELAY_VARIABLE];
    if (options.agent === true && relay !== undefined && relay !== "") {
      // A contained agent: no database here, its tools are served on its relay socket.
      process.exit(await relayStdio(relay, createLogger((process.env.CORRAL_LOG_LEVEL ?? process.env.CORRAL_LOG) === "silent" ? "silent" : "warn")));
    }
    const config = loadConfig();
    if (!config.ok) die(config.error);
    const logger = createLogger(config.value.logLevel);
    const corral = Corral.open(config.value, logger, { watch: options.agent !== true });
    if (!corral.ok) die(corral.error);
    if (options.agent !== true) corral.value.serveAgentsWith(serveRelayedAgents(corral.value, VERSION));
    const server =
      options.agent === true
        ? createAgentServer(corral.value, VERSION, tokenIdentity(corral.value, process.env.CORRAL_AGENT_TOKEN, process.pid))
        : createCoordinatorServer(corral.value, VERSION);
    // The client ending the session (closing stdin) is a success; a signal exits as a shell
    // reports a command it ended: 143 for SIGTERM, 130 for SIGINT, 129 for SIGHUP.
    const signal = await serveStdio(server, corral.value, logger);
    process.exit(signal === null ? 0 : signalExitCode(signal));
  });

registerRun(program);
registerPs(program);
registerLogs(program);
registerAttach(program);
registerKill(program);
registerStats(program);
registerGc(program);
registerDoctor(program);
registerDemo(program);

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) throw new InvalidArgumentError("a port is a number from 0 to 65535");
  return port;
}

await program.parseAsync(process.argv);
