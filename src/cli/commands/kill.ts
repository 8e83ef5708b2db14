import type { Command } from "commander";
import { TaskIdSchema } from "../../domain/ids.js";
import type { CleanupRecordView } from "../../lifecycle/views.js";
import { paint } from "../format.js";
import { die } from "../exit.js";
import { withCorral } from "../session.js";
import { cliErrorLine } from "../words.js";

function describe(agentId: string, killedNow: boolean, cleanup: CleanupRecordView): string {
  const terminate = cleanup.steps.find((s) => s.step === "terminate");
  const signalled = (terminate?.detail.signalled as unknown[] | undefined)?.length ?? 0;
  const survivors = (terminate?.detail.survivors as unknown[] | undefined)?.length ?? 0;
  const state = cleanup.status === "done" ? paint("clean", "green") : paint(`cleanup ${cleanup.status}`, "red");
  const what = killedNow ? "killed" : "had already ended";
  const by = cleanup.verifiedBy === null ? "" : ` (verified by ${cleanup.verifiedBy}${cleanup.blindSpots.length === 0 ? "" : `, blind to: ${cleanup.blindSpots.join("; ")}`})`;
  return `${agentId} ${what}: ${signalled} processes signalled, ${survivors} survived${by}; ${state}`;
}

export function registerKill(program: Command): void {
  program
    .command("kill")
    .description("kill an agent (and its children), or every live agent of a task; prints what was cleaned")
    .argument("<id>", "an agent id, or a task id")
    .option("-r, --reason <text>", "why, kept with the agent", "killed from the command line")
    .action((id: string, options: { reason: string }) =>
      withCorral(async (corral) => {
        const isTask = TaskIdSchema.safeParse(id).success;
        const ids = isTask ? corral.agents(false).filter((a) => a.taskId === id).map((a) => a.agentId) : [id];
        if (isTask) {
          const task = corral.status(id);
          if (!task.ok) die(task.error, 1);
        }
        if (ids.length === 0) {
          process.stdout.write(`no live agent in ${id}\n`);
          return;
        }
        let failed = false;
        for (const agentId of ids) {
          const result = await corral.kill(agentId, options.reason);
          if (!result.ok) {
            process.stderr.write(cliErrorLine(result.error));
            failed = true;
            continue;
          }
          process.stdout.write(`${describe(agentId, result.value.killedNow, result.value.cleanup)}\n`);
          if (result.value.cleanup.status !== "done") failed = true;
        }
        if (failed) process.exitCode = 1;
      }),
    );
}
