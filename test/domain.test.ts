import { describe, expect, it } from "vitest";
import { AGENT_STATUSES, canTransition, isTerminal, sourcesOf, statusForExit } from "../src/domain/agent-state.js";
import { resolveConfig } from "../src/domain/config.js";
import { BACKEND_SECTIONS } from "../src/backends/registry.js";
import { AgentIdSchema, AgentTypeSchema, newAgentId, newTaskId, TaskIdSchema, type AgentId } from "../src/domain/ids.js";
import { planDiskFloor } from "../src/lifecycle/disk-floor.js";
import { checkDeploy } from "../src/domain/limits.js";
import { resolveInside } from "../src/domain/paths.js";

describe("ids", () => {
  it("makes task and agent ids of the documented shape, from UTC time", () => {
    const at = new Date(Date.UTC(2026, 10, 21, 6, 5, 9));
    const task = newTaskId(at);
    expect(task).toMatch(/^TASK-20261121-060509-[0-9a-f]{8}$/);
    expect(TaskIdSchema.safeParse(task).success).toBe(true);
    const agent = newAgentId(AgentTypeSchema.parse("code_review-2"), at);
    expect(agent).toMatch(/^code_review-2-060509-[0-9a-f]{6}$/);
    expect(AgentIdSchema.safeParse(agent).success).toBe(true);
  });

  it.each(["", "A", "a b", "a/b", "a.b", "é", "a".repeat(41)])("rejects the agent type %j", (type) => {
    expect(AgentTypeSchema.safeParse(type).success).toBe(false);
  });
});

describe("state machine", () => {
  it("leads from pending through running to exactly the five terminal states, and no further", () => {
    expect(canTransition("pending", "running")).toBe(true);
    expect(canTransition("running", "pending")).toBe(false);
    for (const from of AGENT_STATUSES.filter(isTerminal)) {
      for (const to of AGENT_STATUSES) expect(canTransition(from, to)).toBe(false);
    }
    expect(sourcesOf("completed")).toEqual(["running"]);
    expect(sourcesOf("killed")).toEqual(["pending", "running"]);
  });

  it("maps an exit to completed, failed or crashed", () => {
    expect(statusForExit({ kind: "exited", code: 0 })).toBe("completed");
    expect(statusForExit({ kind: "exited", code: 1 })).toBe("failed");
    expect(statusForExit({ kind: "signalled", signal: "SIGSEGV" })).toBe("crashed");
  });
});

describe("limits", () => {
  const limits = { maxConcurrentAgents: 3, maxAgentsPerTask: 5, maxDepth: 2, maxChildrenPerParent: 2 };
  it.each([
    [{ activeAgents: 3, taskAgents: 0, parent: null }, "LIMIT_GLOBAL_AGENTS"],
    [{ activeAgents: 0, taskAgents: 5, parent: null }, "LIMIT_TASK_AGENTS"],
    [{ activeAgents: 0, taskAgents: 0, parent: { depth: 2, children: 0, live: true } }, "LIMIT_DEPTH"],
    [{ activeAgents: 0, taskAgents: 0, parent: { depth: 0, children: 2, live: true } }, "LIMIT_CHILDREN"],
    [{ activeAgents: 0, taskAgents: 0, parent: { depth: 0, children: 0, live: false } }, "PARENT_NOT_RUNNING"],
  ])("refuses %j with %s", (snapshot, code) => {
    const result = checkDeploy(snapshot, limits);
    expect(result.ok ? "ok" : result.error.code).toBe(code);
  });

  it("gives a child its parent's depth plus one", () => {
    expect(checkDeploy({ activeAgents: 2, taskAgents: 4, parent: { depth: 1, children: 1, live: true } }, limits)).toEqual({
      ok: true,
      value: { depth: 2 },
    });
  });
});

describe("configuration", () => {
  it("takes defaults, then the file, then the environment", () => {
    const config = resolveConfig({ CORRAL_GRACE_MS: "250" }, { graceMs: 100, maxDepth: 1 }, "/home/u", BACKEND_SECTIONS);
    expect(config).toMatchObject({ ok: true, value: { home: "/home/u/.corral", graceMs: 250, maxDepth: 1, maxConcurrentAgents: 20 } });
  });

  it("names the variable or key that is wrong", () => {
    const fromEnv = resolveConfig({ CORRAL_MAX_DEPTH: "deep" }, null, "/h", BACKEND_SECTIONS);
    expect(fromEnv.ok ? "" : fromEnv.error.message).toContain("CORRAL_MAX_DEPTH");
    const fromFile = resolveConfig({}, { graceMs: -1, colour: "red" }, "/h", BACKEND_SECTIONS);
    expect(fromFile.ok ? "" : fromFile.error.code).toBe("CONFIG_INVALID");
    expect(fromFile.ok ? "" : fromFile.error.message).toMatch(/graceMs|colour/);
  });
});

describe("paths", () => {
  it.each([["a/b", true], ["../a", false], ["/etc/passwd", false], ["a/../../b", false], ["a\0b", false], ["..", false]])(
    "resolveInside(root, %j) allowed: %s",
    (candidate, allowed) => {
      expect(resolveInside("/root/ws", candidate).ok).toBe(allowed);
    },
  );
});

describe("the disk reserve", () => {
  const log = (id: string, grew: number, bytes = grew) => ({ id: id as AgentId, grew, bytes });
  it("stops nobody while there is room", () => {
    expect(planDiskFloor([log("a", 1e9)], 100e6, 64e6)).toBeNull();
  });
  it("stops the log that grew most since the last check, one at a time", () => {
    expect(planDiskFloor([log("a", 10), log("b", 5e6), log("c", 1e6)], 1e6, 64e6)?.id).toBe("b");
  });
  it("stops nobody when no log is growing, and never with a reserve of 0", () => {
    expect(planDiskFloor([log("a", 0, 1e9)], 1e6, 64e6)).toBeNull();
    expect(planDiskFloor([log("a", 1e9)], 0, 0)).toBeNull();
  });
});
