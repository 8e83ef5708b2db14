import { setTimeout as sleep } from "node:timers/promises";
import { unwrap } from "../domain/errors.js";
import type { TaskId } from "../domain/ids.js";
import type { Corral } from "../lifecycle/corral.js";
import type { DeployInput } from "../lifecycle/inputs.js";
import type { AgentView } from "../lifecycle/views.js";
import { paint, statusColour, table } from "./format.js";
import { die } from "./exit.js";
import { signalExitCode, type StopRequest, type StopSignal } from "./signals.js";
import { cliErrorLine } from "./words.js";

export interface RunPlan {
  readonly description: string;
  readonly agents: readonly Omit<DeployInput, "taskId">[];
}

export type RunOutcome = "completed" | "failed" | "interrupted";

/** 0, 1, or for a run a signal stopped what a shell reports for it: 130 for Ctrl-C, 143 for SIGTERM. */
export function exitCodeOf(outcome: RunOutcome, stop: StopRequest): number {
  const signal = stop.signal();
  if (outcome === "interrupted" && signal !== null) return signalExitCode(signal);
  return outcome === "completed" ? 0 : 1;
}

const STOP_REASONS: Readonly<Record<StopSignal, string>> = {
  SIGINT: "stopped with Ctrl-C",
  SIGTERM: "stopped by SIGTERM",
  SIGHUP: "stopped: the terminal closed (SIGHUP)",
};

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
 * started, and any error on the way: no agent this run started outlives it unwatched. The
 * caller listens for stop signals (`stop`) from before this starts until its own cleanup ends.
 */
export async function orchestrate(
  corral: Corral,
  plan: RunPlan,
  stop: StopRequest,
  write: (text: string) => void,
  warn: (text: string) => void = (text) => process.stderr.write(text),
): Promise<RunOutcome> {
  for (const agent of plan.agents) {
    const checked = corral.checkDeploy(agent);
    if (!checked.ok) die(checked.error, 1);
  }
  if (stop.signal() !== null) return "interrupted";
  const task = corral.createTask({ description: plan.description });
  if (!task.ok) die(task.error, 1);
  const taskId = task.value.id;
  write(`task ${taskId}\n`);
  // Until every agent has ended, leaving this function must stop them.
  let settled = false;
  void stop.received.then(() => settled || write("stopping every agent…\n"));
  try {
    for (const agent of plan.agents) {
      if (stop.signal() !== null) break;
      const deployed = await corral.deploy({ ...agent, taskId });
      if (!deployed.ok) {
        warn(cliErrorLine(deployed.error));
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
      const signal = stop.signal();
      if (signal !== null) {
        await corral.shutdown(STOP_REASONS[signal]);
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
      await Promise.race([sleep(POLL_MS), stop.received]);
    }
  } finally {
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

