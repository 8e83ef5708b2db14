#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command } from "commander";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command()
  .name("corral")
  .description(
    "Runs headless coding-agent CLIs as supervised background agents, and releases every " +
      "process, log, temp file and limits slot each one takes, verified, whatever way it ends.",
  )
  .version(pkg.version, "-V, --version", "print the version")
  .helpOption("-h, --help", "show this help")
  .showHelpAfterError()
  .argument("[command]", "a corral command (this version has none yet)")
  .action((command: string | undefined) => {
    if (command !== undefined) program.error(`error: unknown command '${command}'`, { exitCode: 1 });
    program.help();
  });

program.parse(process.argv);
