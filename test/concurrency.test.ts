import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { openCorral } from "./helpers/sandbox.js";
import { runWorker } from "./helpers/workers.js";
import { withStore } from "./helpers/store.js";

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

async function sleepers(c: Corral, n: number) {
  const task = unwrap(c.createTask({ description: "concurrency" }));
  const agents = [];
  for (let i = 0; i < n; i += 1) {
    agents.push(unwrap(await c.deploy({ taskId: task.id, agentType: "sleeper", prompt: "p", command: ["sleep", "300"] })));
  }
  return { task, agents };
}

describe("several OS processes on one store", () => {
  it("20 agents killed at once from 4 processes: each killed and cleaned exactly once, counters exact", async () => {
    corral = openCorral();
    const { task, agents } = await sleepers(corral, 20);
    const ids = agents.map((a) => a.id);
    // Each worker starts at a different agent, so that every agent is contended.
    const rotated = (by: number) => [...ids.slice(by), ...ids.slice(0, by)];
    const results = await Promise.all(
      [0, 5, 10, 15].map((by) => runWorker<{ won: string[]; errors: string[] }>("kill-agents", [corral.config.home, ...rotated(by)])),
    );

    expect(results.flatMap((r) => r.errors)).toEqual([]);
    const won = results.flatMap((r) => r.won).sort();
    expect(won).toEqual([...ids].sort());
    for (const id of ids) {
      const agent = corral.agent(id as AgentId)!;
      expect(agent.status).toBe("killed");
      expect(agent.cleanupStatus).toBe("done");
      expect(agent.cleanupAttempts).toBe(1);
      const steps = corral.cleanupRecord(agent.id).steps;
      expect(steps.map((s) => s.step)).toEqual(["terminate", "verify", "close_session", "record_outcome", "archive_log", "delete_temp_files", "release_slot"]);
      expect(steps.every((s) => s.outcome === (s.step === "close_session" ? "skipped" : "ok"))).toBe(true);
    }
    const after = corral.task(task.id)!;
    expect([after.agentCount, after.activeCount]).toEqual([20, 0]);
    expect(withStore(corral.config.home, (store) => store.agents.countHoldingSlots())).toBe(0);
  });

  it("8 processes × 500 progress events: every event present, every counter exact", async () => {
    corral = openCorral();
    const { task, agents } = await sleepers(corral, 4);
    const ids = agents.map((a) => a.id);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, worker) =>
        runWorker<{ failures: string[] }>("report-events", [corral.config.home, String(worker), "500", ...ids]),
      ),
    );
    expect(results.flatMap((r) => r.failures)).toEqual([]);

    const events = withStore(corral.config.home, (store) => store.events.forTask(task.id, 0, 100_000));
    expect(events).toHaveLength(4000);
    const seen = new Set(events.map((e) => String(e.data.message)));
    for (let worker = 0; worker < 8; worker += 1) {
      for (let seq = 0; seq < 500; seq += 1) if (!seen.has(`${worker}:${seq}`)) throw new Error(`event ${worker}:${seq} is missing`);
    }
    let total = 0;
    for (const id of ids) {
      const agent = corral.agent(id)!;
      expect(agent.eventCount).toBe(withStore(corral.config.home, (store) => store.events.forAgent(id, 0, 100_000).length));
      total += agent.eventCount;
    }
    expect(total).toBe(4000);
    expect(corral.task(task.id)?.eventCount).toBe(4000);
    for (const id of ids) unwrap(await corral.kill(id));
  });
});
