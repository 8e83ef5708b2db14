import { describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import type { Store } from "../src/store/store.js";
import type { StreamDelta } from "../src/store/streams.js";
import { agentRow, cleanupClaim, ROOMY_LIMITS, taskRow, TEST_TASK } from "./helpers/builders.js";
import { withFreshStore } from "./helpers/store.js";

const task = TEST_TASK;
const dead = { pid: 1, startTime: "1" };
const alive = { pid: 2, startTime: "2" };

/** A fresh store holding the test task. */
function withStore<T>(fn: (store: Store) => T): T {
  return withFreshStore((store) => {
    store.tasks.insert(taskRow(task));
    return fn(store);
  });
}

function agent(store: Store, n: number, owner = dead): AgentId {
  const id = `w-000000-00000${n}` as AgentId;
  unwrap(store.agents.insert(agentRow(task, owner, { id, createdAt: n }), ROOMY_LIMITS));
  return id;
}

const end = (store: Store, id: AgentId, at: number) =>
  store.runs.end(id, { status: "killed", reason: null, exit: null, at, claim: cleanupClaim("a") });

const nothing: StreamDelta = { inputTokens: 0, outputTokens: 0, toolCalls: 0, denials: 0, errors: 0 };

describe("ownership", () => {
  it("lets exactly one corral adopt an orphan from its dead owner, and none adopt an ended agent", () => {
    withStore((store) => {
      const [orphan, gone] = [agent(store, 1), agent(store, 2)];
      end(store, gone, 5);
      expect(store.ownership.adopt(orphan, dead, alive)).toBe(true);
      expect(store.ownership.adopt(orphan, dead, { pid: 3, startTime: "3" })).toBe(false);
      expect(store.ownership.adopt(gone, dead, alive)).toBe(false);
      expect(store.agents.get(orphan)?.owner).toEqual(alive);
    });
  });

  it("lists the live agents one owner holds, and no one else's", () => {
    withStore((store) => {
      const [mine, ended] = [agent(store, 1, alive), agent(store, 2, alive)];
      agent(store, 3, dead);
      end(store, ended, 5);
      expect(store.ownership.liveOwnedBy(alive).map((a) => a.id)).toEqual([mine]);
    });
  });
});

describe("stream totals", () => {
  it("counts a stretch of the log once, whoever reads it: the stored offset guards it", () => {
    withStore((store) => {
      const id = agent(store, 1);
      const delta = { ...nothing, inputTokens: 5, outputTokens: 2, toolCalls: 1 };
      expect(store.streams.apply({ id, taskId: task.id }, 0, 40, delta, [{ kind: "text" }], 3)).toBe(true);
      expect(store.streams.apply({ id, taskId: task.id }, 0, 40, delta, [{ kind: "text" }], 3)).toBe(false);
      const row = store.agents.get(id)!;
      expect([row.stream.offset, row.stream.inputTokens, row.stream.toolCalls, row.eventCount]).toEqual([40, 5, 1, 1]);
      expect(store.events.forAgent(id)).toHaveLength(1);
      expect(store.tasks.get(task.id)?.eventCount).toBe(1);
    });
  });

  it("replaces the running sums with the run's own totals from its final result", () => {
    withStore((store) => {
      const id = agent(store, 1);
      store.streams.apply({ id, taskId: task.id }, 0, 10, { ...nothing, inputTokens: 5, outputTokens: 2 }, [], 3);
      store.streams.apply({ id, taskId: task.id }, 10, 20, { ...nothing, inputTokens: 1, totalTokens: { input: 90, output: 30 } }, [], 4);
      const row = store.agents.get(id)!;
      expect([row.stream.inputTokens, row.stream.outputTokens]).toEqual([90, 30]);
    });
  });
});

describe("flags", () => {
  it("flags an agent stuck from the first time seen until cleared", () => {
    withStore((store) => {
      const id = agent(store, 1);
      expect(store.flags.markStuck(id, 7)).toBe(true);
      expect(store.flags.markStuck(id, 9)).toBe(false);
      expect(store.summaries.get(id)?.stuckSince).toBe(7);
      store.flags.clearStuck(id);
      expect(store.summaries.get(id)?.stuckSince).toBeNull();
    });
  });

  it("keeps the latest limit warnings, and none once they are gone", () => {
    withStore((store) => {
      const id = agent(store, 1);
      store.flags.setLimitWarnings(id, ["memory at 85 %"]);
      expect(store.summaries.get(id)?.limitWarnings).toEqual(["memory at 85 %"]);
      store.flags.setLimitWarnings(id, []);
      expect(store.summaries.get(id)?.limitWarnings).toEqual([]);
    });
  });
});

describe("outcomes", () => {
  it("lists archived agents oldest ended first, and forgets an archive retention deleted", () => {
    withStore((store) => {
      const [older, newer, unarchived] = [agent(store, 1), agent(store, 2), agent(store, 3)];
      end(store, newer, 20);
      end(store, older, 10);
      end(store, unarchived, 5);
      store.outcomes.setArchive(newer, "/w/archive/2.log.gz");
      store.outcomes.setArchive(older, "/w/archive/1.log.gz");
      store.outcomes.setTranscript(older, "/t/1.jsonl");
      expect(store.outcomes.archived()).toEqual([
        { id: older, taskId: task.id, path: "/w/archive/1.log.gz", endedAt: 10, transcriptPath: "/t/1.jsonl" },
        { id: newer, taskId: task.id, path: "/w/archive/2.log.gz", endedAt: 20, transcriptPath: null },
      ]);
      store.outcomes.setArchive(older, null);
      expect(store.outcomes.archived().map((a) => a.id)).toEqual([newer]);
    });
  });
});

describe("summaries and events", () => {
  it("summarises every agent, or only those not yet ended, in creation order", () => {
    withStore((store) => {
      const [first, second, third] = [agent(store, 1), agent(store, 2), agent(store, 3)];
      end(store, second, 5);
      expect(store.summaries.all(false).map((a) => a.id)).toEqual([first, second, third]);
      expect(store.summaries.all(true).map((a) => a.id)).toEqual([first, third]);
    });
  });

  it("counts an agent's events by kind", () => {
    withStore((store) => {
      const id = agent(store, 1);
      for (const kind of ["progress", "progress", "finding"] as const) store.events.append({ taskId: task.id, agentId: id, kind, at: 1, data: {} });
      expect(store.events.countsFor(id)).toEqual({ progress: 2, finding: 1 });
    });
  });
});
