import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import { SLEEPER } from "../agents.js";
import { ms, repeat, timed, type Bench } from "../harness.js";

/** From deploy to a running agent: the row, its files and the spawn, not the program's start-up. */
export async function benchDeploy(bench: Bench): Promise<void> {
  const summary = await bench.withCorral({}, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench deploy" }));
    const ids: AgentId[] = [];
    const times = await repeat(50, async () => {
      const deployed = await timed(() => corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER }));
      ids.push(unwrap(deployed.value).id);
      if (ids.length === 10) await Promise.all(ids.splice(0).map((id) => corral.kill(id)));
      return deployed.ms;
    });
    await Promise.all(ids.map((id) => corral.kill(id)));
    return times;
  });
  bench.record("deploy → running (row, files, spawn; not the program's start-up)", ms(summary), "median ≤ 20 ms", summary.median <= 20, summary);
}
