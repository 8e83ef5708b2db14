import { setTimeout as sleep } from "node:timers/promises";
import { unwrap } from "../domain/errors.js";
import type { TaskId } from "../domain/ids.js";
import type { Corral } from "../lifecycle/corral.js";
import { renameField, type DeployInput } from "../lifecycle/inputs.js";
import type { AgentView } from "../lifecycle/views.js";
import { paint, statusColour, table } from "./format.js";
import { die } from "./session.js";

export interface RunPlan {
  readonly description: string;
  readonly agents: readonly Omit<DeployInput, "taskId">[];
  /** How the command line spells each deploy field, for refusals: `agentType` is `--type`. */
  readonly fieldNames?: Readonly<Record<string, string>>;
}

export type RunOutcome = "completed" | "failed" | "interrupted";

/** The exit code for each outcome: 130 is what a shell reports for Ctrl-C. */
export const EXIT_CODES: Readonly<Record<RunOutcome, number>> = { completed: 0, failed: 1, interrupted: 130 };

const POLL_MS = 250;
const isLive = (a: AgentView): boolean => a.status === "running" || a.status === "pending" || a.cleanup === "running" || a.cleanup === "pending";

function progressLine(agent: AgentView): string {
  const progress = agent.progress === null ? "" : ` ${agent.progress}%`;
  const message = agent.latestMessage === null ? "" : ` ${agent.latestMessage.split("\n")[0]?.slice(0, 100)}`;
  return `${paint(agent.agentId, "bold")} ${paint(agent.status, statusColour(agent.status))}${progress}${message}`;
}

function summary(agents: readonly AgentView[]): string {
  const header = ["AGENT", "STATUS", "COST", "TOKENS", "CONFIDENCE", "CLEANUP"].map((h) => paint(h, "bold"));
  const rows = agents.map((a) => [
    a.agentId,
    paint(a.status, statusColour(a.status)),
    a.costUsd === null ? "-" : `$${a.costUsd.toFixed(4)}`,
    a.inputTokens + a.outputTokens === 0 ? "-" : `${a.inputTokens} in, ${a.outputTokens} out`,
    a.validation?.confidence ?? "-",
    a.cleanup === "done" ? paint("clean", "green") : paint(a.cleanup, "red"),
  ]);
  const cost = agents.reduce((sum, a) => sum + (a.costUsd ?? 0), 0);
  return `${table([header, ...rows])}\ntotal cost $${cost.toFixed(4)}\n`;
}

/**
 * Creates a task, deploys its agents, prints each change of an agent's state as it happens,
 * waits for every agent (children included) to end and be cleaned, and prints a summary.
 * Every agent is checked before the task is made, so a refused plan creates nothing. Ctrl-C
 * stops every agent, verified, before exiting; so does a deploy that fails after others
 * started, and any error on the way: no agent this run started outlives it unwatched.
 */
export async function orchestrate(
  corral: Corral,
  plan: RunPlan,
  write: (text: string) => void,
  warn: (text: string) => void = (text) => process.stderr.write(text),
): Promise<RunOutcome> {
  for (const agent of plan.agents) {
    const checked = renameField(corral.checkDeploy(agent), plan.fieldNames ?? {});
    if (!checked.ok) die(checked.error, 1);
  }
  const task = corral.createTask({ description: plan.description });
  if (!task.ok) die(task.error, 1);
  const taskId = task.value.id;
  write(`task ${taskId}\n`);
  let interrupted = false;
  const stop = (): void => {
    if (interrupted) return;
    interrupted = true;
    write("stopping every agent…\n");
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // Until every agent has ended, leaving this function must stop them.
  let settled = false;
  try {
    for (const agent of plan.agents) {
      if (interrupted) break;
      const deployed = await corral.deploy({ ...agent, taskId });
      if (!deployed.ok) {
        warn(`corral: ${deployed.error.code}: ${deployed.error.message}\n`);
        const started = await stopTask(corral, taskId, `the run failed: another agent could not start (${deployed.error.code})`);
        write(`stopped ${started} agent${started === 1 ? "" : "s"} already started\n`);
        settled = true;
        write(`\n${summary(unwrap(corral.status(taskId)).agents)}`);
        return "failed";
      }
      if (deployed.value.runner === "tmux") write(`${deployed.value.id} runs in tmux: watch it with corral attach ${deployed.value.id}\n`);
    }
    const seen = new Map<string, string>();
    for (;;) {
      if (interrupted) {
        await corral.shutdown("stopped with Ctrl-C");
        settled = true;
        return "interrupted";
      }
      const status = unwrap(corral.status(taskId));
      for (const agent of status.agents) {
        const line = progressLine(agent);
        if (seen.get(agent.agentId) !== line) write(`${line}\n`);
        seen.set(agent.agentId, line);
      }
      if (!status.agents.some(isLive)) {
        settled = true;
        write(`\n${summary(status.agents)}`);
        return status.agents.every((a) => a.status === "completed") ? "completed" : "failed";
      }
      await sleep(POLL_MS);
    }
  } finally {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
    if (!settled) await stopTask(corral, taskId, "the run ended with an error");
  }
}

/** Kills every agent of the task not yet ended, children with their parents; returns how many. */
async function stopTask(corral: Corral, taskId: TaskId, reason: string): Promise<number> {
  const live = unwrap(corral.status(taskId)).agents.filter((a) => a.status === "running" || a.status === "pending");
  const killed = await Promise.all(live.map((a) => corral.kill(a.agentId, reason)));
  for (const result of killed) unwrap(result);
  return live.length;
}

