import { describe, expect, it } from "vitest";
import type { AgentId } from "../src/domain/ids.js";
import type { ProcessUsage } from "../src/domain/resource-limits.js";
import { planReap, type ReapProbe } from "../src/lifecycle/reaper.js";
import type { AgentRecord } from "../src/store/records.js";
import { agentRecord, config, usage } from "./helpers/builders.js";

/** The machine as the reaper would read it: when each log last changed, how big it is, what each agent uses. */
function machine(seen: { modifiedAt?: Record<string, number>; logBytes?: Record<string, number>; usage?: Record<string, ProcessUsage[]> } = {}): ReapProbe & {
  probed: string[];
} {
  const probed: string[] = [];
  return {
    probed,
    modifiedAt: (path) => seen.modifiedAt?.[path] ?? 0,
    logBytes: (path) => seen.logBytes?.[path] ?? 0,
    usage: (agent: AgentRecord) => {
      probed.push(agent.id);
      return seen.usage?.[agent.id] ?? [];
    },
  };
}

const id = (name: string): AgentId => `w-000000-${name}` as AgentId;
const STARTED = 1_000;
const MB = 1024 * 1024;

describe("the wall-clock limit", () => {
  const limited = config({ maxRuntimeMs: 60_000 });

  it("ends an agent that ran longer than maxRuntimeMs as timed_out, saying how long it ran", () => {
    const plan = planReap([agentRecord()], limited, STARTED + 61_000, machine());
    expect(plan).toEqual([
      { kind: "end", id: agentRecord().id, status: "timed_out", reason: "ran 61 s, longer than maxRuntimeMs=60000", why: "time" },
    ]);
  });

  it("lets an agent run to exactly maxRuntimeMs", () => {
    expect(planReap([agentRecord()], limited, STARTED + 60_000, machine())).toEqual([]);
  });

  it("sets no limit when maxRuntimeMs is 0", () => {
    expect(planReap([agentRecord()], config({ maxRuntimeMs: 0 }), STARTED + 1e9, machine())).not.toContainEqual(
      expect.objectContaining({ why: "time" }),
    );
  });

  it("takes the agent's own max_runtime_s over maxRuntimeMs, shorter or longer, and names it", () => {
    const short = agentRecord({ id: id("short"), spec: { maxRuntimeMs: 5_000 } });
    const long = agentRecord({ id: id("long"), spec: { maxRuntimeMs: 120_000 } });
    const plan = planReap([short, long], limited, STARTED + 90_000, machine());
    expect(plan).toEqual([
      { kind: "end", id: short.id, status: "timed_out", reason: "ran 90 s, longer than its max_runtime_s=5", why: "time" },
    ]);
  });

  it("looks only at running agents that have started", () => {
    const pending = agentRecord({ id: id("pending"), status: "pending", startedAt: null });
    const ended = agentRecord({ id: id("ended"), status: "completed" });
    expect(planReap([pending, ended], limited, STARTED + 1e9, machine())).toEqual([]);
  });
});

describe("a stuck agent", () => {
  const watchful = config({ stuckMs: 10_000 });

  it("is flagged once it has had no output and no report for longer than stuckMs, since its last sign of life", () => {
    const agent = agentRecord({ lastEventAt: STARTED + 2_000 });
    const plan = planReap([agent], watchful, STARTED + 13_000, machine({ modifiedAt: { [agent.logPath]: STARTED + 1_000 } }));
    expect(plan).toEqual([
      { kind: "mark_stuck", id: agent.id, since: STARTED + 2_000, reason: "stuck: no output and no progress for 11 s (stuckMs=10000)" },
    ]);
  });

  it("is not stuck while its log grows", () => {
    const agent = agentRecord();
    expect(planReap([agent], watchful, STARTED + 13_000, machine({ modifiedAt: { [agent.logPath]: STARTED + 4_000 } }))).toEqual([]);
  });

  it("is not stuck while it reports", () => {
    expect(planReap([agentRecord({ lastEventAt: STARTED + 4_000 })], watchful, STARTED + 13_000, machine())).toEqual([]);
  });

  it("counts its quiet from its start, not from an older log", () => {
    expect(planReap([agentRecord()], watchful, STARTED + 9_000, machine({ modifiedAt: { [agentRecord().logPath]: 0 } }))).toEqual([]);
  });

  it("is flagged only once", () => {
    expect(planReap([agentRecord({ stuckSince: STARTED })], watchful, STARTED + 13_000, machine())).toEqual([]);
  });

  it("loses its flag when it shows a sign of life", () => {
    const agent = agentRecord({ stuckSince: STARTED, lastEventAt: STARTED + 12_000 });
    expect(planReap([agent], watchful, STARTED + 13_000, machine())).toEqual([{ kind: "clear_stuck", id: agent.id }]);
  });

  it("is killed with reason stuck when onStuck=terminate", () => {
    const plan = planReap([agentRecord()], config({ stuckMs: 10_000, onStuck: "terminate" }), STARTED + 13_000, machine());
    expect(plan).toEqual([
      { kind: "end", id: agentRecord().id, status: "killed", reason: "stuck: no output and no progress for 13 s (stuckMs=10000)", why: "stuck" },
    ]);
  });

  it("that is also past its time limit is ended once, timed_out", () => {
    const plan = planReap([agentRecord()], config({ stuckMs: 10_000, onStuck: "terminate", maxRuntimeMs: 10_000 }), STARTED + 13_000, machine());
    expect(plan.map((action) => [action.kind, "why" in action ? action.why : null])).toEqual([["end", "time"]]);
  });
});

describe("resource limits in the reap", () => {
  const limited = config({ agentOpenFiles: 100 });

  it("reads no process's usage when no resource limit is set", () => {
    const seen = machine();
    planReap([agentRecord()], config(), STARTED + 1_000, seen);
    expect(seen.probed).toEqual([]);
  });

  it("stops an agent one of whose processes reached a limit, with the limit's reason", () => {
    const agent = agentRecord();
    const plan = planReap([agent], limited, STARTED + 1_000, machine({ usage: { [agent.id]: [usage({ pid: 7, openFiles: 100 })] } }));
    expect(plan).toEqual([
      { kind: "end", id: agent.id, status: "killed", reason: "pid 7 reached its open-file limit (agentOpenFiles=100)", why: "limit" },
    ]);
  });

  it("records warnings when they change, and not again while they stay the same", () => {
    const agent = agentRecord();
    const near = machine({ usage: { [agent.id]: [usage({ pid: 7, openFiles: 85 })] } });
    const warnings = ["open files at 85 % of agentOpenFiles=100 (pid 7)"];
    expect(planReap([agent], limited, STARTED + 1_000, near)).toEqual([{ kind: "limit_warnings", id: agent.id, warnings }]);
    expect(planReap([agentRecord({ limitWarnings: warnings })], limited, STARTED + 1_000, near)).toEqual([]);
  });

  it("clears the warnings once usage falls back", () => {
    const agent = agentRecord({ limitWarnings: ["open files at 85 % of agentOpenFiles=100 (pid 7)"] });
    const plan = planReap([agent], limited, STARTED + 1_000, machine({ usage: { [agent.id]: [usage({ pid: 7, openFiles: 10 })] } }));
    expect(plan).toEqual([{ kind: "limit_warnings", id: agent.id, warnings: [] }]);
  });
});

describe("a task's disk budget", () => {
  const budget = config({ taskDiskBudgetMb: 10 });
  const logs = (sizes: Record<string, number>) => machine({ logBytes: Object.fromEntries(Object.entries(sizes).map(([name, mb]) => [`/w/logs/${id(name)}.log`, mb * MB])) });
  const ended = (plan: ReturnType<typeof planReap>) => plan.flatMap((action) => (action.kind === "end" ? [action.id] : []));

  it("stops the agents with the largest logs until the task's live logs fit its budget", () => {
    const agents = ["a", "b", "c", "d"].map((name) => agentRecord({ id: id(name) }));
    const plan = planReap(agents, budget, STARTED + 1_000, logs({ a: 4, b: 6, c: 2, d: 5 }));
    expect(ended(plan)).toEqual([id("b"), id("d")]);
    expect(plan[0]).toMatchObject({ status: "killed", why: "disk", reason: "its task's logs passed taskDiskBudgetMb=10 (this agent's log: 6.0 MB)" });
  });

  it("stops nobody while the logs fit, up to the budget itself", () => {
    const agents = ["a", "b"].map((name) => agentRecord({ id: id(name) }));
    expect(planReap(agents, budget, STARTED + 1_000, logs({ a: 4, b: 6 }))).toEqual([]);
  });

  it("counts each task's logs apart", () => {
    const agents = [agentRecord({ id: id("a") }), agentRecord({ id: id("b"), taskId: "TASK-20260101-000000-00000002" as AgentRecord["taskId"] })];
    expect(planReap(agents, budget, STARTED + 1_000, logs({ a: 6, b: 6 }))).toEqual([]);
  });

  it("does not count the log of an agent already being ended", () => {
    const agents = [agentRecord({ id: id("old"), startedAt: 0 }), agentRecord({ id: id("new"), startedAt: 100_000 })];
    const plan = planReap(agents, config({ taskDiskBudgetMb: 10, maxRuntimeMs: 150_000 }), 160_000, logs({ old: 8, new: 5 }));
    expect(plan.map((action) => [action.kind === "end" ? action.why : action.kind, action.id])).toEqual([["time", id("old")]]);
  });
});
