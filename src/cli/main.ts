#!/usr/bin/env node
import type { Command as CommandType } from "commander";
import { LOG_LEVEL_VARIABLE, LOG_LEVELS } from "../domain/log-levels.js";
import { RELAY_VARIABLE } from "../backends/backend.js";
import { signalExitCode } from "./signals.js";
import { VERSION } from "./version.js";

// Nothing heavy is imported above: each command loads what it runs when it runs (the MCP
// SDK for serve, the store and zod for the rest), and --version alone loads nothing more.
const asked = process.argv.slice(2);
if (asked.length === 1 && (asked[0] === "--version" || asked[0] === "-V")) {
  process.stdout.write(`${VERSION}\n`);
  process.exit(0);
}

/** Each command's registration, loaded only when the command line names it (or asks for help). */
const COMMANDS: Readonly<Record<string, () => Promise<(program: CommandType) => void>>> = {
  run: async () => (await import("./commands/run.js")).registerRun,
  ps: async () => (await import("./commands/ps.js")).registerPs,
  logs: async () => (await import("./commands/logs.js")).registerLogs,
  attach: async () => (await import("./commands/attach.js")).registerAttach,
  kill: async () => (await import("./commands/kill.js")).registerKill,
  stats: async () => (await import("./commands/stats.js")).registerStats,
  gc: async () => (await import("./commands/gc.js")).registerGc,
  doctor: async () => (await import("./commands/doctor.js")).registerDoctor,
  demo: async () => (await import("./commands/demo.js")).registerDemo,
};

/** The command the arguments name: the first word that is neither an option nor --log-level's value. */
function commandNamed(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg === "--log-level") i += 1;
    else if (!arg.startsWith("-")) return arg;
  }
  return undefined;
}

const { Command, InvalidArgumentError, Option } = await import("commander");

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
  .action(async (options: { agent?: boolean; http?: boolean; host: string; port: number; allowRemote?: boolean }, command: CommandType) => {
    if (options.http === true) {
      if (options.agent === true) command.error("error: --http serves the coordinator's tools; --agent cannot be combined with it");
      const { serveHttpCommand } = await import("./commands/serve-http.js");
      await serveHttpCommand({ host: options.host, port: options.port, allowRemote: options.allowRemote === true });
    }
    const relay = process.env[RELAY_VARIABLE];
    if (options.agent === true && relay !== undefined && relay !== "") {
      // A contained agent: no database here, its tools are served on its relay socket.
      const [{ relayStdio }, { createLogger }] = await Promise.all([import("../mcp/relay-agent.js"), import("../lifecycle/logger.js")]);
      process.exit(await relayStdio(relay, createLogger((process.env.CORRAL_LOG_LEVEL ?? process.env.CORRAL_LOG) === "silent" ? "silent" : "warn")));
    }
    const [{ loadConfig }, { Corral }, { createLogger }, { serveOwnAgents }, servers, { die }] = await Promise.all([
      import("../lifecycle/config-loader.js"),
      import("../lifecycle/corral.js"),
      import("../lifecycle/logger.js"),
      import("../mcp/agent-serving.js"),
      import("../mcp/servers.js"),
      import("./exit.js"),
    ]);
    const config = loadConfig();
    if (!config.ok) return die(config.error);
    const logger = createLogger(config.value.logLevel);
    const corral = Corral.open(config.value, logger, { watch: options.agent !== true });
    if (!corral.ok) return die(corral.error);
    if (options.agent !== true) serveOwnAgents(corral.value, VERSION, logger);
    const server =
      options.agent === true
        ? servers.createAgentServer(corral.value, VERSION, servers.tokenIdentity(corral.value, process.env.CORRAL_AGENT_TOKEN, process.pid))
        : servers.createCoordinatorServer(corral.value, VERSION);
    // The client ending the session (closing stdin) is a success; a signal exits as a shell
    // reports a command it ended: 143 for SIGTERM, 130 for SIGINT, 129 for SIGHUP.
    const signal = await servers.serveStdio(server, corral.value, logger);
    process.exit(signal === null ? 0 : signalExitCode(signal));
  });

const named = commandNamed(asked);
const only = named === undefined ? undefined : COMMANDS[named];
for (const register of await Promise.all((only === undefined ? Object.values(COMMANDS) : [only]).map((load) => load()))) register(program);

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) throw new InvalidArgumentError("a port is a number from 0 to 65535");
  return port;
}

await program.parseAsync(process.argv);
