import { describe, expect, it } from "vitest";
import { checkDeploy, type DeploySnapshot, type Limits } from "../src/domain/limits.js";

const limits: Limits = { maxConcurrentAgents: 3, maxAgentsPerTask: 5, maxDepth: 2, maxChildrenPerParent: 2 };
const room: DeploySnapshot = { activeAgents: 0, taskAgents: 0, parent: null };
const parent = (overrides: Partial<NonNullable<DeploySnapshot["parent"]>> = {}) => ({ depth: 0, children: 0, live: true, ...overrides });
const refusal = (snapshot: Partial<DeploySnapshot>): string => {
  const result = checkDeploy({ ...room, ...snapshot }, limits);
  return result.ok ? "allowed" : `${result.error.code}: ${result.error.message}`;
};

describe("the anti-spiral limits on a deploy", () => {
  it("refuses an agent once maxConcurrentAgents hold a slot, across all tasks", () => {
    expect(refusal({ activeAgents: 2 })).toBe("allowed");
    expect(refusal({ activeAgents: 3 })).toBe(
      "LIMIT_GLOBAL_AGENTS: 3 agents are already running, the most allowed at once (maxConcurrentAgents=3); wait for one to finish or kill one",
    );
  });

  it("refuses an agent once its task has had maxAgentsPerTask, ended ones included", () => {
    expect(refusal({ taskAgents: 4 })).toBe("allowed");
    expect(refusal({ taskAgents: 5 })).toMatch(/^LIMIT_TASK_AGENTS: .*\(maxAgentsPerTask=5\)$/);
  });

  it("gives a root agent depth 0 and a child its parent's depth plus one", () => {
    expect(checkDeploy(room, limits)).toEqual({ ok: true, value: { depth: 0 } });
    expect(checkDeploy({ ...room, parent: parent({ depth: 1 }) }, limits)).toEqual({ ok: true, value: { depth: 2 } });
  });

  it("refuses a child deeper than maxDepth", () => {
    expect(refusal({ parent: parent({ depth: 2 }) })).toBe("LIMIT_DEPTH: a child here would be at depth 3, deeper than allowed (maxDepth=2)");
  });

  it("refuses a parent's child past maxChildrenPerParent", () => {
    expect(refusal({ parent: parent({ children: 1 }) })).toBe("allowed");
    expect(refusal({ parent: parent({ children: 2 }) })).toMatch(/^LIMIT_CHILDREN: the parent already has 2 children.*\(maxChildrenPerParent=2\)$/);
  });

  it("refuses a child of an agent that has ended", () => {
    expect(refusal({ parent: parent({ live: false }) })).toMatch(/^PARENT_NOT_RUNNING: /);
  });

  it("names the machine-wide limit first, then the task's, then the parent's", () => {
    expect(refusal({ activeAgents: 3, taskAgents: 5, parent: parent({ live: false }) })).toMatch(/^LIMIT_GLOBAL_AGENTS/);
    expect(refusal({ taskAgents: 5, parent: parent({ live: false }) })).toMatch(/^LIMIT_TASK_AGENTS/);
  });
});
