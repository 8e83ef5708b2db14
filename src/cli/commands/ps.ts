import type { Command } from "commander";
import { DEFAULT_PAGE, MAX_PAGE } from "../../domain/bounds.js";
import type { AgentPageView } from "../../lifecycle/reply-views.js";
import type { AgentView } from "../../lifecycle/views.js";
import { age, paint, statusColour, table } from "../format.js";

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

/** Where the page stands, and the command that shows the next one, under the table. */
function footer(view: AgentPageView, all: boolean): string {
  const { page } = view;
  const shown = `agents ${page.offset + 1}–${page.offset + page.returned} of ${page.total}`;
  return page.next === null ? "" : `${shown}; next: corral ps${all ? " -a" : ""} --cursor ${page.next}\n`;
}

interface PsOptions {
  all?: boolean;
  json?: boolean;
  limit?: string;
  cursor?: string;
}

export function registerPs(program: Command): void {
  program
    .command("ps")
    .description("list agents that are running (with -a, every agent) and their tasks, a page at a time")
    .option("-a, --all", "include agents that have ended")
    .option("--limit <n>", `agents per page (default ${DEFAULT_PAGE}, at most ${MAX_PAGE})`)
    .option("--cursor <cursor>", "the page that the previous page's 'next' names")
    .option("--json", "print the counts, totals and the page of agents as JSON")
    .action(async (options: PsOptions) => {
      // Loaded here, not at the top: a command loads only what it runs.
      const [{ withReader }, { die }, { printJson }, { AgentPageView }] = await Promise.all([
        import("../reading.js"),
        import("../exit.js"),
        import("../json-output.js"),
        import("../../lifecycle/reply-views.js"),
      ]);
      const all = options.all === true;
      await withReader((reader) => {
        const query = {
          ...(options.limit === undefined ? {} : { limit: Number(options.limit) }),
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
        };
        const view = reader.agentPage(all, query);
        if (!view.ok) return die(view.error, 1, options);
        if (options.json === true) {
          printJson(AgentPageView, view.value);
          return;
        }
        const { agents } = view.value;
        if (agents.length === 0) {
          process.stdout.write(all ? "no agents\n" : "no agents running (corral ps -a shows the ended ones)\n");
          return;
        }
        const now = Date.now();
        const header = ["AGENT", "TASK", "STATUS", "PROGRESS", "AGE", "COST", "PID", "RUNNER", "LATEST"].map((h) => paint(h, "bold"));
        process.stdout.write(`${table([header, ...agents.map((a) => row(a, now))])}\n${footer(view.value, all)}`);
      }, options);
    });
}
