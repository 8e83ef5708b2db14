import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import type { StreamEvent } from "../../domain/stream-events.js";
import type { Corral } from "../../lifecycle/corral.js";
import { paint } from "../format.js";
import { die } from "../exit.js";
import { withCorral } from "../session.js";
import { listenForStop, signalExitCode } from "../signals.js";

const FOLLOW_POLL_MS = 250;
const brief = (value: unknown, max = 160): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
};

/** One readable line for each event of an agent's stream (or each line of a plain command). */
export function describeEvent(entry: StreamEvent | { kind: "line"; text: string }): string | null {
  switch (entry.kind) {
    case "line":
      return entry.text;
    case "init":
      return paint(`[start] session ${entry.sessionId}, model ${entry.model ?? "?"}, corral ${entry.corralConnected === false ? "NOT CONNECTED" : "connected"}`, "dim");
    case "text":
      return entry.text;
    case "tool_call":
      return paint(`→ ${entry.name} ${brief(entry.input)}`, "dim");
    case "tool_result":
      return entry.isError ? paint(`← error: ${brief(entry.excerpt)}`, "red") : paint(`← ${brief(entry.excerpt)}`, "dim");
    case "usage":
      return null;
    case "result": {
      const cost = entry.costUsd === null ? "" : `, $${entry.costUsd.toFixed(4)}`;
      const summary = `[end] ${entry.isError ? "error" : "done"}${cost}, ${entry.numTurns ?? "?"} turns`;
      return paint(summary, entry.isError ? "red" : "green");
    }
    case "error":
      return paint(`[unreadable] ${entry.message}`, "red");
  }
}

/** Prints what is new since `printed` lines/events, and returns the new count. */
async function printFrom(corral: Corral, taskId: string, agentId: string, raw: boolean, printed: number): Promise<number> {
  const output = await corral.output(taskId, agentId, { format: raw ? "text" : "parsed", maxBytes: 16 * 1024 * 1024 });
  if (!output.ok) die(output.error, 1);
  const items: string[] = raw
    ? (output.value.text ?? "").split("\n").slice(0, -1)
    : ((output.value.entries ?? []) as (StreamEvent | { kind: "line"; text: string })[]).flatMap((e) => describeEvent(e) ?? []);
  for (const line of items.slice(printed)) process.stdout.write(`${line}\n`);
  return items.length;
}

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .description("an agent's output, readable (--raw for the stream as written), live or archived")
    .argument("<agent>", "the agent id")
    .option("-f, --follow", "keep printing until the agent has ended")
    .option("--raw", "the output exactly as the agent wrote it")
    .action((agentId: string, options: { follow?: boolean; raw?: boolean }) => {
      // Following ends at the agent's end, or at a signal, which then sets the exit code.
      const stop = options.follow === true ? listenForStop() : null;
      return withCorral(async (corral) => {
        const agent = corral.agents(true).find((a) => a.agentId === agentId);
        if (agent === undefined) die({ code: "UNKNOWN_AGENT", message: `no agent ${agentId} (corral ps -a lists them)`, field: "agent_id" }, 1);
        const raw = options.raw === true;
        let printed = await printFrom(corral, agent.taskId, agentId, raw, 0);
        while (stop !== null) {
          const now = corral.agents(true).find((a) => a.agentId === agentId);
          const ended = now === undefined || (now.status !== "running" && now.status !== "pending" && now.cleanup !== "running");
          printed = await printFrom(corral, agent.taskId, agentId, raw, printed);
          const signal = stop.signal();
          if (signal !== null) process.exitCode = signalExitCode(signal);
          if (ended || signal !== null) break;
          await Promise.race([sleep(FOLLOW_POLL_MS), stop.received]);
        }
      }).finally(() => stop?.dispose());
    });
}
