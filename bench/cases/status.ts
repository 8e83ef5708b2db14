import { toWire } from "../../src/contract/wire.js";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import { TaskStatusView } from "../../src/lifecycle/views.js";
import { jsonBytes } from "../../src/mcp/reply-budget.js";
import { toolResult } from "../../src/mcp/results.js";
import { insertAgents, MANY } from "../agents.js";
import { repeat, round, timedSync, type Bench, type Summary } from "../harness.js";

interface Sized {
  readonly summary: Summary;
  /** The whole tool result as sent, with its text as JSON (any client) and as a brief (Claude Code). */
  readonly jsonReplyBytes: number;
  readonly briefReplyBytes: number;
}

/**
 * A task's status, its first page as get_real_task_status answers it (read, put in the
 * contract's words, made into the tool's result), as the task grows from 1,000 to 10,000
 * agents; and how many bytes that reply is.
 */
export async function benchStatus(bench: Bench): Promise<void> {
  const sizes = [1_000, 10_000];
  const results: Record<number, Sized> = {};
  for (const size of sizes) {
    results[size] = await bench.withCorral(MANY, async (corral) => {
      const task = unwrap(corral.createTask({ description: `bench status ${size}` }));
      const ids = insertAgents(corral, task, size);
      for (let i = 0; i < 200; i += 1) {
        const id = ids[i % ids.length] as AgentId;
        const message = `m${i}`;
        unwrap(
          i % 4 === 0
            ? await corral.report(id, { kind: "finding", findingType: "bench", severity: "low", message })
            : await corral.report(id, { kind: "progress", status: "working", message }),
        );
      }
      const reply = (form: "json" | "brief") => toolResult({ ok: true, value: toWire(TaskStatusView, unwrap(corral.status(task.id, {}))) as object }, undefined, { form, tool: "get_real_task_status" });
      const summary = await repeat(50, async () => timedSync(() => reply("json")).ms);
      return { summary, jsonReplyBytes: jsonBytes(reply("json")), briefReplyBytes: jsonBytes(reply("brief")) };
    });
  }
  const at = (n: number): Sized => results[n] as Sized;
  const kib = (bytes: number): string => `${round(bytes / 1024, 1)} KiB`;
  bench.record(
    "get_real_task_status first page (100 agents), task of 1,000 / 10,000 agents (read, in the contract's words, as the tool's result)",
    `median ${round(at(1_000).summary.median)} / ${round(at(10_000).summary.median)} ms; reply ${kib(at(10_000).jsonReplyBytes)} with the JSON as text, ${kib(at(10_000).briefReplyBytes)} with a brief`,
    "≤ 10 ms at 10,000; reply within the 1 MiB budget",
    at(10_000).summary.median <= 10 && at(10_000).jsonReplyBytes <= 2 * 1024 * 1024,
    results,
  );
}
