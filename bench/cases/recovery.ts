import { rmSync } from "node:fs";
import { unwrap } from "../../src/domain/errors.js";
import { loadConfig } from "../../src/lifecycle/config-loader.js";
import { Corral } from "../../src/lifecycle/corral.js";
import { createLogger } from "../../src/lifecycle/logger.js";
import { round, timed, type Bench } from "../harness.js";
import { gone, serveWithAgents } from "../serve.js";

/** A corral's reconcile after its predecessor died by kill -9, adopting or terminating its agents. */
export async function benchRecovery(bench: Bench): Promise<void> {
  const results: Record<string, number> = {};
  for (const orphans of ["adopt", "terminate"] as const) {
    for (const count of [10, 100]) {
      const home = bench.home("recover-");
      const { client, pid } = await serveWithAgents(home, count);
      process.kill(pid, "SIGKILL");
      await gone(pid);
      await client.close();
      const corral = unwrap(
        Corral.open({ ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), orphans }, createLogger("silent"), { watch: false }),
      );
      const reconciled = await timed(() => corral.reconcile());
      results[`${orphans} ${count}`] = reconciled.ms;
      const report = reconciled.value;
      const handled = orphans === "adopt" ? report.adopted.length : report.terminated.length;
      if (handled !== count) throw new Error(`reconcile handled ${handled} of ${count} agents`);
      // Shutdown hands adopted agents back rather than killing them: stop them here.
      await Promise.all(report.adopted.map((id) => corral.kill(id, "bench over")));
      await corral.shutdown("bench over");
      rmSync(home, { recursive: true, force: true });
    }
  }
  const at = (key: string): number => round(results[key] as number);
  bench.record(
    "recovery after kill -9: adopt / terminate, 10 and 100 agents",
    `adopt ${at("adopt 10")} / ${at("adopt 100")} ms; terminate ${at("terminate 10")} / ${at("terminate 100")} ms`,
    "≤ 2 s at 100",
    (results["adopt 100"] as number) <= 2000 && (results["terminate 100"] as number) <= 2000,
    results,
  );
}
