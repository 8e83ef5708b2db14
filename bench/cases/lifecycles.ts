import { unwrap } from "../../src/domain/errors.js";
import { resources, round, timed, type Bench } from "../harness.js";

/** Complete lifecycles one after another, and whether descriptors, zombies or the heap grow with them. */
export async function benchLifecycles(bench: Bench): Promise<void> {
  const count = 1000;
  const data = await bench.withCorral({ maxAgentsPerTask: 100_000 }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench lifecycles" }));
    const once = async (): Promise<void> => {
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: ["true"] }));
      const done = await corral.whenCleaned(agent.id);
      if (done.cleanupStatus !== "done") throw new Error(`cleanup of ${agent.id} is ${done.cleanupStatus}`);
    };
    // Warm up first: the allocator's arenas and SQLite's page cache fill during the first
    // few hundred lifecycles, and growth after that is what would matter overnight.
    const warmup = 1000;
    for (let i = 0; i < warmup; i += 1) await once();
    const before = await resources();
    const run = await timed(async () => {
      for (let i = 0; i < count; i += 1) await once();
    });
    const seconds = run.ms / 1000;
    const after = await resources();
    return { warmup, count, seconds, perSecond: count / seconds, before, after };
  });
  const grew = data.after.fds - data.before.fds;
  bench.record(
    "1,000 complete lifecycles in a row (after 1,000 to warm up)",
    `${round(data.perSecond, 1)}/s; fds ${data.before.fds}→${data.after.fds}, RSS ${round(data.before.rssMiB, 1)}→${round(data.after.rssMiB, 1)} MiB, heap used ${round(data.before.heapMiB, 1)}→${round(data.after.heapMiB, 1)} MiB (reserved ${round(data.before.heapTotalMiB, 1)}→${round(data.after.heapTotalMiB, 1)}), zombies ${data.before.zombies}→${data.after.zombies}`,
    "no growth in fds, zombies or heap used",
    grew <= 0 && data.after.zombies === 0 && data.after.heapMiB - data.before.heapMiB < 2,
    data,
  );
}
