import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import { insertAgents, MANY } from "../agents.js";
import { ms, repeat, timed, type Bench } from "../harness.js";

/** One progress event written, among many agents' rows. */
export async function benchEvents(bench: Bench): Promise<void> {
  const agents = 10_000;
  const summary = await bench.withCorral(MANY, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench events" }));
    const ids = insertAgents(corral, task, agents);
    return repeat(5000, async (i) => {
      const id = ids[(i * 7919) % ids.length] as AgentId;
      const reported = await timed(() => corral.report(id, { kind: "progress", status: "bench", message: `event ${i}`, progress: i % 101 }));
      unwrap(reported.value);
      return reported.ms;
    });
  });
  bench.record(`progress event written, ${agents.toLocaleString("en")} agents in the store`, ms(summary), "median ≤ 0.5 ms", summary.median <= 0.5, summary);
}
