import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import type { StreamEvent } from "../../src/domain/stream-events.js";
import { createLogger } from "../../src/lifecycle/logger.js";
import { StreamFollower } from "../../src/lifecycle/stream-follower.js";
import { Store } from "../../src/store/store.js";
import { agentRow } from "../../test/helpers/builders.js";
import { withStore } from "../../test/helpers/store.js";
import { MANY } from "../agents.js";
import { round, summarize, type Bench } from "../harness.js";

const AGENTS = 30;
/** A minute of looks at the follower's interval (250 ms). */
const LOOKS = 240;
const SAMPLES = 5;

/**
 * What following the streams of 30 quiet agents costs a minute: the follower's looks of a
 * minute, run back to back over 30 logs that each hold a few lines already read, timed with
 * process.cpuUsage. `corral serve` follows every agent with a structured stream (claude) this
 * way while it runs; the idle-cpu case's command agents are not followed.
 */
export async function benchFollowCpu(bench: Bench): Promise<void> {
  const data = await bench.withCorral(MANY, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench follow" }));
    const ids: AgentId[] = [];
    withStore(corral.config.home, (store) => {
      for (let i = 0; i < AGENTS; i += 1) {
        const id = `bench-000000-${i.toString(16).padStart(6, "0")}` as AgentId;
        const logPath = join(task.workspace, "logs", `${id}.log`);
        writeFileSync(logPath, "");
        unwrap(store.agents.insert(agentRow(task, corral.owner, { id, logPath, cwd: "/" }), corral.config));
        ids.push(id);
      }
    });
    const store = unwrap(Store.open(join(corral.config.home, "corral.db")));
    const follower = new StreamFollower(store, createLogger("silent"), 3_600_000);
    const look = (): void => follower.poll();
    try {
      const parseLine = (line: string): StreamEvent[] => (line === "" ? [] : [{ kind: "text", text: line }]);
      for (const id of ids) follower.follow(id, parseLine);
      for (const id of ids) appendFileSync(join(task.workspace, "logs", `${id}.log`), "a line the agent wrote\n".repeat(20));
      look();
      const minutes: number[] = [];
      for (let s = 0; s < SAMPLES; s += 1) {
        const before = process.cpuUsage();
        for (let i = 0; i < LOOKS; i += 1) look();
        const used = process.cpuUsage(before);
        minutes.push((used.user + used.system) / 1e6);
      }
      return { agents: AGENTS, looks: LOOKS, minutes: minutes.map((m) => round(m, 4)), median: summarize(minutes).median };
    } finally {
      follower.stop();
      store.close();
    }
  });
  bench.record(
    `following ${AGENTS} quiet agents' streams, CPU-seconds a minute`,
    `${round(data.median, 4)} CPU-s (${LOOKS} looks, median of ${SAMPLES})`,
    "≤ 0.1",
    data.median <= 0.1,
    data,
  );
}
