import { rmSync } from "node:fs";
import { readStat } from "../../src/supervisor/procfs.js";
import { timed, type Bench } from "../harness.js";
import { gone, serveWithAgents } from "../serve.js";

/** `corral serve` on SIGTERM with agents running: how long until it is gone, and what it left. */
export async function benchShutdown(bench: Bench): Promise<void> {
  const home = bench.home("shutdown-");
  const { client, pid, pids } = await serveWithAgents(home, 20);
  const took = (
    await timed(async () => {
      process.kill(pid, "SIGTERM");
      await gone(pid);
    })
  ).ms;
  await client.close();
  const survivors = pids.filter((p) => readStat(p) !== null && readStat(p)?.state !== "Z").length;
  rmSync(home, { recursive: true, force: true });
  bench.record("shutdown on SIGTERM with 20 agents", `${Math.round(took)} ms, ${survivors} survivors`, "≤ 3,000 ms deadline, 0 survivors", took <= 3000 && survivors === 0, {
    ms: took,
    survivors,
  });
}
