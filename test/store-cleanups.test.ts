import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import type { Store } from "../src/store/store.js";
import { agentRow, cleanupClaim, ROOMY_LIMITS, startedProcess, taskRow, TEST_TASK } from "./helpers/builders.js";
import { withFreshStore } from "./helpers/store.js";

const task = TEST_TASK;

/** A fresh store holding the test task. */
function withStore<T>(fn: (store: Store, path: string) => T): T {
  return withFreshStore((store, path) => {
    store.tasks.insert(taskRow(task));
    return fn(store, path);
  });
}

/** An agent launched and ended, its cleanup claimed with `nonce`, as the terminal transition leaves it. */
function ended(store: Store, n: number, nonce: string): AgentId {
  const id = `w-000000-00000${n}` as AgentId;
  unwrap(store.agents.insert(agentRow(task, { pid: 1, startTime: "1" }, { id, createdAt: n }), ROOMY_LIMITS));
  store.runs.recordLaunch(id, startedProcess(100 + n, "5"), n);
  expect(store.runs.end(id, { status: "completed", reason: null, exit: null, at: 10 + n, claim: cleanupClaim(nonce) })).toBe(true);
  return id;
}

const cleanupOf = (store: Store, id: AgentId) => {
  const agent = store.agents.get(id)!;
  return { status: agent.cleanupStatus, claim: agent.cleanupClaim, attempts: agent.cleanupAttempts, cleanedAt: agent.cleanedAt };
};

describe("cleanup claims", () => {
  it("hands a running cleanup to exactly one corral, the one that names the claim it found", () => {
    withStore((store) => {
      const id = ended(store, 1, "a");
      expect(store.cleanups.takeOver(id, cleanupClaim("a"), cleanupClaim("b"))).toBe(true);
      expect(store.cleanups.takeOver(id, cleanupClaim("a"), cleanupClaim("c"))).toBe(false);
      expect(cleanupOf(store, id)).toEqual({ status: "running", claim: cleanupClaim("b"), attempts: 2, cleanedAt: null });
    });
  });

  it("lets only the holder of the claim end the cleanup, done with its time or partial without", () => {
    withStore((store) => {
      const id = ended(store, 1, "a");
      store.cleanups.takeOver(id, cleanupClaim("a"), cleanupClaim("b"));
      expect(store.cleanups.finish(id, cleanupClaim("a"), "done", 20)).toBe(false);
      expect(store.cleanups.finish(id, cleanupClaim("b"), "partial", 20)).toBe(true);
      expect(cleanupOf(store, id)).toEqual({ status: "partial", claim: null, attempts: 2, cleanedAt: null });
      expect(store.cleanups.finish(id, cleanupClaim("b"), "done", 21)).toBe(false);
    });
  });

  it("claims a partial cleanup again exactly once, and never a running or done one", () => {
    withStore((store) => {
      const id = ended(store, 1, "a");
      expect(store.cleanups.retry(id, cleanupClaim("b"))).toBe(false);
      store.cleanups.finish(id, cleanupClaim("a"), "partial", 20);
      expect(store.cleanups.retry(id, cleanupClaim("c"))).toBe(true);
      expect(store.cleanups.retry(id, cleanupClaim("d"))).toBe(false);
      expect(cleanupOf(store, id)).toEqual({ status: "running", claim: cleanupClaim("c"), attempts: 2, cleanedAt: null });
      expect(store.cleanups.finish(id, cleanupClaim("c"), "done", 30)).toBe(true);
      expect(cleanupOf(store, id)).toEqual({ status: "done", claim: null, attempts: 2, cleanedAt: 30 });
      expect(store.cleanups.retry(id, cleanupClaim("e"))).toBe(false);
      expect(store.cleanups.takeOver(id, null, cleanupClaim("e"))).toBe(false);
    });
  });

  it("lists running and partial cleanups, oldest ended first, and counts each state", () => {
    withStore((store) => {
      const running = [ended(store, 2, "a"), ended(store, 1, "b")];
      const partial = ended(store, 3, "c");
      store.cleanups.finish(partial, cleanupClaim("c"), "partial", 20);
      const done = ended(store, 4, "d");
      store.cleanups.finish(done, cleanupClaim("d"), "done", 20);
      unwrap(store.agents.insert(agentRow(task, { pid: 1, startTime: "1" }, { id: "w-000000-000009" as AgentId }), ROOMY_LIMITS));
      expect(store.cleanups.running().map((a) => a.id)).toEqual(running.reverse());
      expect(store.cleanups.partial().map((a) => a.id)).toEqual([partial]);
      expect(store.cleanups.counts()).toEqual({ pending: 1, running: 2, partial: 1, done: 1 });
    });
  });

  it("refuses to read a row whose claim is not a claim", () => {
    withStore((store, path) => {
      const id = ended(store, 1, "a");
      const db = new Database(path);
      db.prepare(`UPDATE agents SET cleanup_claim = 'someone' WHERE id = ?`).run(id);
      db.close();
      expect(() => store.agents.get(id)).toThrow(/cleanup claim/);
    });
  });
});
