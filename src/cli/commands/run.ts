import { Option, type Command } from "commander";
import { RUNNER_KINDS, type RunnerKind } from "../../domain/config.js";
import { BACKENDS } from "../../lifecycle/inputs.js";
import { EXIT_CODES, orchestrate } from "../orchestrate.js";
import { withCorral } from "../session.js";

type Backend = (typeof BACKENDS)[number];

const FIELD_NAMES = { agent_type: "--type", backend: "--backend", model: "--model", runner: "--runner", command: "ARGV (after --)", prompt: "PROMPT" };

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("create a task, deploy agents with a prompt, show their progress live, wait, and print a summary with cost and cleanup; Ctrl-C stops them all")
    .argument("<prompt>", "the agents' mission")
    .argument("[command...]", "the argv to run (after --), with the command backend")
    .option("-n, --agents <n>", "how many agents", "1")
    .addOption(new Option("-b, --backend <backend>", "which agent CLI (default: command when ARGV is given, else claude)").choices(BACKENDS))
    .option("-t, --type <type>", "the agents' type", "worker")
    .option("-m, --model <model>", "model, for claude agents")
    .addOption(new Option("-r, --runner <runner>", "where the agents run: process, or tmux (watch one with corral attach)").choices(RUNNER_KINDS))
    .action((prompt: string, command: string[], options: { agents: string; backend?: Backend; type: string; model?: string; runner?: RunnerKind }) => {
      // Refused before the state dir is opened: a refused run changes nothing.
      const count = Number(options.agents);
      if (!Number.isInteger(count) || count < 1 || count > 100) {
        program.error(`error: --agents takes a whole number from 1 to 100, not ${options.agents}`, { exitCode: 1 });
      }
      return withCorral(async (corral) => {
        const agents = Array.from({ length: count }, () => ({
          agentType: options.type,
          prompt,
          ...(options.backend === undefined ? {} : { backend: options.backend }),
          ...(command.length > 0 ? { command } : {}),
          ...(options.model === undefined ? {} : { model: options.model }),
          ...(options.runner === undefined ? {} : { runner: options.runner }),
        }));
        const plan = { description: prompt.slice(0, 200), agents, fieldNames: FIELD_NAMES };
        const outcome = await orchestrate(corral, plan, (text) => process.stdout.write(text));
        process.exitCode = EXIT_CODES[outcome];
      });
    });
}
