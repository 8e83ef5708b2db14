import type { Command } from "commander";
import { z } from "zod";
import { AgentView } from "../../lifecycle/views.js";
import { printJson } from "../json-output.js";
import { age, paint, statusColour, table } from "../format.js";
import { withCorral } from "../session.js";

function row(agent: AgentView, now: number): string[] {
  return [
    agent.agentId,
    agent.taskId,
    paint(agent.status, statusColour(agent.status)),
    agent.progress === null ? "-" : `${agent.progress}%`,
    age(now - Date.parse(agent.createdAt)),
    agent.costUsd === null ? "-" : `$${agent.costUsd.toFixed(4)}`,
    agent.pid === null ? "-" : String(agent.pid),
    agent.runner,
    agent.flags.length > 0 ? paint(agent.flags[0] as string, "yellow") : (agent.latestMessage ?? "").slice(0, 60),
  ];
}

export function registerPs(program: Command): void {
  program
    .command("ps")
    .description("list agents that are running (with -a, every agent) and their tasks")
    .option("-a, --all", "include agents that have ended")
    .option("--json", "print the agents as JSON")
    .action((options: { all?: boolean; json?: boolean }) =>
      withCorral((corral) => {
        const agents = corral.agents(options.all === true);
        if (options.json === true) {
          printJson(z.array(AgentView), agents);
          return;
        }
        if (agents.length === 0) {
          process.stdout.write(options.all === true ? "no agents\n" : "no agents running (corral ps -a shows the ended ones)\n");
          return;
        }
        const now = Date.now();
        const header = ["AGENT", "TASK", "STATUS", "PROGRESS", "AGE", "COST", "PID", "RUNNER", "LATEST"].map((h) => paint(h, "bold"));
        process.stdout.write(`${table([header, ...agents.map((a) => row(a, now))])}\n`);
      }, options),
    );
}
