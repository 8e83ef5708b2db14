import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import { insertAgents, MANY } from "../agents.js";
import { repeat, round, timedSync, type Bench, type Summary } from "../harness.js";

/** A task's status, read and serialised, as its agents grow from 10 to 1,000. */
export async function benchStatus(bench: Bench): Promise<void> {
  const sizes = [10, 100, 1000];
  const results: Record<number, Summary> = {};
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
      return repeat(50, async () => timedSync(() => JSON.stringify(unwrap(corral.status(task.id)))).ms);
    });
  }
  const at = (n: number): Summary => results[n] as Summary;
  bench.record(
    "get_real_task_status, 10 / 100 / 1,000 agents (read and serialised)",
    `median ${round(at(10).median)} / ${round(at(100).median)} / ${round(at(1000).median)} ms; ×${round(at(1000).median / at(100).median, 1)} from 100 to 1,000`,
    "≤ 10 ms at 1,000",
    at(1000).median <= 10,
    results,
  );
}
