import { Option, type Command } from "commander";
import { RUNNER_KINDS, type RunnerKind } from "../../domain/config.js";
import { BACKENDS } from "../../lifecycle/inputs.js";
import { exitCodeOf, orchestrate } from "../orchestrate.js";
import { die } from "../exit.js";
import { withCorral } from "../session.js";
import { listenForStop } from "../signals.js";
import { wordsBeforeSeparator } from "../words.js";

type Backend = (typeof BACKENDS)[number];

const quote = (words: readonly string[]): string => words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`)).join(" ");

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("create a task, deploy agents with a prompt, show their progress live, wait, and print a summary with cost and cleanup; Ctrl-C stops them all")
    .argument("<prompt>", "the agents' mission (quote it: one argument)")
    .argument("[command...]", "after --, the argv to run, with the command backend")
    .option("-n, --agents <n>", "how many agents", "1")
    .addOption(new Option("-b, --backend <backend>", "which agent CLI (default: command when ARGV is given, else claude)").choices(BACKENDS))
    .option("-t, --type <type>", "the agents' type", "worker")
    .option("-m, --model <model>", "model, for claude agents")
    .addOption(new Option("-r, --runner <runner>", "where the agents run: process, or tmux (watch one with corral attach)").choices(RUNNER_KINDS))
    .action((prompt: string, command: string[], options: { agents: string; backend?: Backend; type: string; model?: string; runner?: RunnerKind }) => {
      // Refused before the state dir is opened: a refused run changes nothing.
      const stray = wordsBeforeSeparator(command, process.argv.slice(2));
      if (stray.length > 0) {
        const argv = command.slice(stray.length);
        die(
          {
            code: "INVALID_INPUT",
            field: "prompt",
            message:
              `prompt: one argument, and the command to run goes after --; ${quote(stray)} came after the prompt without it. ` +
              `Quote a prompt of several words (corral run ${quote([[prompt, ...stray].join(" ")])}${argv.length === 0 ? "" : ` -- ${quote(argv)}`}), ` +
              `or put the command after -- (corral run ${quote([prompt])} -- ${quote(command)})`,
          },
          1,
        );
      }
      const count = Number(options.agents);
      if (!Number.isInteger(count) || count < 1 || count > 100) {
        program.error(`error: --agents takes a whole number from 1 to 100, not ${options.agents}`, { exitCode: 1 });
      }
      const stop = listenForStop();
      return withCorral(async (corral) => {
        const agents = Array.from({ length: count }, () => ({
          agentType: options.type,
          prompt,
          ...(options.backend === undefined ? {} : { backend: options.backend }),
          ...(command.length > 0 ? { command } : {}),
          ...(options.model === undefined ? {} : { model: options.model }),
          ...(options.runner === undefined ? {} : { runner: options.runner }),
        }));
        const outcome = await orchestrate(corral, { description: prompt.slice(0, 200), agents }, stop, (text) => process.stdout.write(text));
        process.exitCode = exitCodeOf(outcome, stop);
      }).finally(stop.dispose);
    });
}
