#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command } from "commander";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command()
  .name("corral")
  .description(
    "Runs headless coding-agent CLIs as supervised background agents, and releases every process,\n" +
      "log, temp file and limits slot each one takes, verified, whatever way it ends.",
  )
  .version(pkg.version, "-V, --version", "print the version")
  .helpOption("-h, --help", "show this help")
  .showHelpAfterError();

program.parse(process.argv);
if (program.args.length === 0) program.help();
