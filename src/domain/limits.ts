import { fail, ok, type Result } from "./errors.js";

/** Anti-spiral limits: they stop a runaway fan-out before it eats the machine or the budget. */
export interface Limits {
  readonly maxConcurrentAgents: number;
  readonly maxAgentsPerTask: number;
  readonly maxDepth: number;
  readonly maxChildrenPerParent: number;
}

/** What the store knows at the moment of a deploy, read inside the deploy's transaction. */
export interface DeploySnapshot {
  readonly activeAgents: number;
  readonly taskAgents: number;
  readonly parent: { readonly depth: number; readonly children: number; readonly live: boolean } | null;
}

/** The depth the new agent gets when every limit allows it. */
export function checkDeploy(snapshot: DeploySnapshot, limits: Limits): Result<{ depth: number }> {
  if (snapshot.activeAgents >= limits.maxConcurrentAgents) {
    return fail(
      "LIMIT_GLOBAL_AGENTS",
      `${snapshot.activeAgents} agents are already running, the most allowed at once (maxConcurrentAgents=${limits.maxConcurrentAgents}); wait for one to finish or kill one`,
    );
  }
  if (snapshot.taskAgents >= limits.maxAgentsPerTask) {
    return fail(
      "LIMIT_TASK_AGENTS",
      `this task already has ${snapshot.taskAgents} agents, the most one task may have (maxAgentsPerTask=${limits.maxAgentsPerTask})`,
    );
  }
  const parent = snapshot.parent;
  if (parent === null) return ok({ depth: 0 });
  if (!parent.live) {
    return fail("PARENT_NOT_RUNNING", "the parent agent has ended; only a live agent can have children");
  }
  const depth = parent.depth + 1;
  if (depth > limits.maxDepth) {
    return fail(
      "LIMIT_DEPTH",
      `a child here would be at depth ${depth}, deeper than allowed (maxDepth=${limits.maxDepth})`,
    );
  }
  if (parent.children >= limits.maxChildrenPerParent) {
    return fail(
      "LIMIT_CHILDREN",
      `the parent already has ${parent.children} children, the most allowed (maxChildrenPerParent=${limits.maxChildrenPerParent})`,
    );
  }
  return ok({ depth });
}
