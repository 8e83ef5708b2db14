#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { CorralError } from "../domain/errors.js";
import { loadConfig } from "../lifecycle/config-loader.js";
import { Corral } from "../lifecycle/corral.js";
import { createLogger } from "../lifecycle/logger.js";
import { createAgentServer, createCoordinatorServer, serveStdio } from "../mcp/servers.js";
import { describeGc } from "./gc-report.js";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

/** Exit codes: 0 success, 1 a usage error or a refusal with a message, 2 corral could not start. */
function die(error: CorralError): never {
  process.stderr.write(`corral: ${error.code}: ${error.message}\n`);
  process.exit(2);
}

const program = new Command()
  .name("corral")
  .description(
    "Runs headless coding-agent CLIs as supervised background agents, and releases every " +
      "process, log, temp file and limits slot each one takes, verified, whatever way it ends.",
  )
  .version(pkg.version, "-V, --version", "print the version")
  .helpOption("-h, --help", "show this help")
  .showHelpAfterError();

program
  .command("serve")
  .description("serve MCP on stdin/stdout for Claude Code or any MCP client (logs go to stderr)")
  .option("--agent", "serve an agent's own tools, for the agent named by CORRAL_AGENT_TOKEN (corral's agents start this)")
  .action(async (options: { agent?: boolean }) => {
    const config = loadConfig();
    if (!config.ok) die(config.error);
    const logger = createLogger(config.value.logLevel);
    const corral = Corral.open(config.value, logger, { watch: options.agent !== true });
    if (!corral.ok) die(corral.error);
    const server =
      options.agent === true
        ? createAgentServer(corral.value, pkg.version, process.env.CORRAL_AGENT_TOKEN)
        : createCoordinatorServer(corral.value, pkg.version);
    await serveStdio(server, corral.value, logger);
    process.exit(0);
  });

program
  .command("gc")
  .description("delete expired archives and stale temp files, and keep the disk budgets; prints what it did")
  .option("--dry-run", "only say what would be deleted")
  .option("--json", "print the report as JSON")
  .action(async (options: { dryRun?: boolean; json?: boolean }) => {
    const config = loadConfig();
    if (!config.ok) die(config.error);
    const corral = Corral.open(config.value, createLogger(config.value.logLevel), { watch: false });
    if (!corral.ok) die(corral.error);
    const report = corral.value.gc(options.dryRun === true);
    const health = corral.value.cleanupHealth();
    await corral.value.close();
    process.stdout.write(options.json === true ? `${JSON.stringify({ ...report, cleanupHealth: health }, null, 2)}\n` : describeGc(report, health));
  });

await program.parseAsync(process.argv);
