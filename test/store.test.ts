import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId, TaskId } from "../src/domain/ids.js";
import { SCHEMA_VERSION } from "../src/store/migrations.js";
import { Store } from "../src/store/store.js";
import { agentRow, cleanupClaim, exited, ROOMY_LIMITS, signalled, startedProcess, taskRow, TEST_TASK } from "./helpers/builders.js";
import { withFreshStore } from "./helpers/store.js";

const dir = () => mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "store-"));

function seed(store: Store) {
  const taskId = TEST_TASK.id;
  store.tasks.insert(taskRow(TEST_TASK));
  const agentId = "w-000000-000001" as AgentId;
  unwrap(store.agents.insert(agentRow(TEST_TASK, { pid: 1, startTime: "1" }, { id: agentId, cwd: "/", mark: "m", createdAt: 1 }), ROOMY_LIMITS));
  return { taskId, agentId };
}

describe("store", () => {
  it("creates the schema at the current version, in WAL mode", () => {
    withFreshStore((_store, path) => {
      const db = new Database(path, { readonly: true });
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      db.close();
    });
  });

  it("refuses a database newer than the code and leaves it untouched", () => {
    const path = join(dir(), "corral.db");
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const bytes = readFileSync(path);
    const opened = Store.open(path);
    expect(opened.ok ? "opened" : opened.error.code).toBe("DB_NEWER_THAN_CODE");
    if (!opened.ok) expect(opened.error.message).toContain("upgrade corral");
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it("refuses a file that is not a database and leaves it untouched", () => {
    const path = join(dir(), "corral.db");
    writeFileSync(path, "this is not sqlite, but it is long enough to have a header ".repeat(20));
    const bytes = readFileSync(path);
    const opened = Store.open(path);
    expect(opened.ok ? "opened" : opened.error.code).toBe("DB_CORRUPT");
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it("lets exactly one caller win a terminal transition, which also claims the cleanup", () => {
    withFreshStore((store) => {
      const { agentId } = seed(store);
      store.runs.recordLaunch(agentId, startedProcess(10, "5"), 2);
      expect(store.agents.get(agentId)?.status).toBe("running");
      const end = (status: "killed" | "completed", nonce: string) =>
        store.runs.end(agentId, { status, reason: null, exit: null, at: 3, claim: cleanupClaim(nonce) });
      expect(end("killed", "a")).toBe(true);
      expect(end("completed", "b")).toBe(false);
      expect(end("killed", "c")).toBe(false);
      const agent = store.agents.get(agentId)!;
      expect([agent.status, agent.cleanupStatus, agent.cleanupAttempts]).toEqual(["killed", "running", 1]);
      expect(agent.cleanupClaim).toEqual(cleanupClaim("a"));
      expect(store.cleanups.finish(agentId, cleanupClaim("b"), "done", 4)).toBe(false);
      expect(store.cleanups.finish(agentId, cleanupClaim("a"), "done", 4)).toBe(true);
      expect(store.agents.get(agentId)?.cleanupStatus).toBe("done");
    });
  });

  it("records the process of an agent ended while it launched, without reviving it", () => {
    withFreshStore((store) => {
      const { agentId } = seed(store);
      expect(store.runs.end(agentId, { status: "killed", reason: "early", exit: null, at: 2, claim: cleanupClaim("f") })).toBe(true);
      store.runs.recordLaunch(agentId, startedProcess(10, "5"), 3);
      store.runs.recordLaunch(agentId, startedProcess(11, "6"), 4);
      const agent = store.agents.get(agentId)!;
      expect([agent.status, agent.process?.pid, agent.startedAt]).toEqual(["killed", 10, 3]);
    });
  });

  it("reads the same agent through its summary as through its full row", () => {
    withFreshStore((store) => {
      const { taskId, agentId } = seed(store);
      store.runs.recordLaunch(agentId, startedProcess(10, "5"), 2);
      store.streams.apply({ id: agentId, taskId }, 0, 100, {
        sessionId: "s",
        model: "m",
        corralConnected: true,
        inputTokens: 7,
        outputTokens: 3,
        costUsd: 0.5,
        numTurns: 2,
        toolCalls: 4,
        denials: 1,
        errors: 2,
        lastText: "hi",
        result: { text: "r", isError: false },
      }, [], 3);
      store.runs.end(agentId, { status: "failed", reason: "why", exit: exited(2), at: 4, claim: cleanupClaim("c") });
      store.outcomes.setValidation(agentId, { confidence: "low", score: 10, warnings: ["w"] });
      const full = store.agents.get(agentId)!;
      const summary = store.summaries.get(agentId)!;
      expect(summary).toEqual({
        id: full.id,
        type: full.type,
        backend: full.backend,
        runner: full.runner,
        status: full.status,
        reason: full.reason,
        parentId: full.parentId,
        depth: full.depth,
        progress: full.progress,
        lastMessage: full.lastMessage,
        eventCount: full.eventCount,
        pid: full.process?.pid,
        exit: full.exit,
        cleanupStatus: full.cleanupStatus,
        createdAt: full.createdAt,
        startedAt: full.startedAt,
        endedAt: full.endedAt,
        claimedDone: full.claimedDone,
        stream: {
          sessionId: "s",
          model: "m",
          corralConnected: true,
          costUsd: 0.5,
          inputTokens: 7,
          outputTokens: 3,
          numTurns: 2,
          toolCalls: 4,
          denials: 1,
          errors: 2,
        },
        validation: full.validation,
        stuckSince: null,
        limitWarnings: [],
        taskId,
      });
      expect(store.summaries.forTask(taskId)).toEqual([summary]);
    });
  });

  it("gives a slot back once only", () => {
    withFreshStore((store) => {
      const { taskId, agentId } = seed(store);
      expect(store.tasks.get(taskId)?.activeCount).toBe(1);
      expect(store.agents.releaseSlot(agentId)).toBe(true);
      expect(store.agents.releaseSlot(agentId)).toBe(false);
      expect(store.tasks.get(taskId)?.activeCount).toBe(0);
    });
  });

  it("keeps the first exit status recorded", () => {
    withFreshStore((store) => {
      const { agentId } = seed(store);
      store.runs.recordExit(agentId, signalled("SIGTERM"));
      store.runs.recordExit(agentId, exited(0));
      expect(store.agents.get(agentId)?.exit).toEqual(signalled("SIGTERM"));
    });
  });

  it("refuses an event for an agent of another task and counts nothing", () => {
    withFreshStore((store) => {
      const { taskId, agentId } = seed(store);
      const other = "TASK-20260101-000000-00000002" as TaskId;
      const id = store.events.append({ taskId: other, agentId, kind: "progress", at: 1, data: {} });
      expect(id).toBeNull();
      expect(store.agents.get(agentId)?.eventCount).toBe(0);
      expect(store.tasks.get(taskId)?.eventCount).toBe(0);
    });
  });
});
