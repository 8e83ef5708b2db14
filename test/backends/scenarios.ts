import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, it } from "vitest";
import type { BackendCapabilities } from "../../src/backends/backend.js";
import { treeOf } from "../../src/supervisor/discover.js";
import { isAlive } from "../../src/supervisor/identity.js";
import { readStat } from "../../src/supervisor/procfs.js";
import type { Coordinator } from "../helpers/mcp-client.js";

/**
 * What an agent is scripted to do, whichever backend runs it. Each backend's end-to-end file
 * gives a driver that turns these into what its CLI takes (a model script in claude's prompt,
 * a shell script for the command backend); the scenarios below are shared.
 */
export type Act =
  | { readonly say: string }
  | { readonly report: { readonly status: string; readonly message: string; readonly progress: number } }
  | { readonly find: { readonly type: string; readonly severity: "low" | "medium" | "high" | "critical"; readonly message: string } }
  | { readonly spawn: { readonly type: string; readonly acts: readonly Act[] } }
  /** Leaves a mark (an empty file of that name in its working dir) for another agent of the task. */
  | { readonly mark: string }
  /** Waits, up to 60 s, for another agent's mark, then 5 s more for that agent to finish its run. */
  | { readonly awaitMark: string }
  | { readonly hang: true }
  /** Ends the run in error at once: an API error for an agent CLI, a non-zero exit for a command. */
  | { readonly fail: string };

export interface BackendDriver {
  readonly backend: string;
  readonly capabilities: BackendCapabilities;
  /** Whether its output is a structured stream that corral parses into events. */
  readonly structuredStream: boolean;
  /** Whether its agents act through corral's tools (its CLI is an MCP client corral configures). */
  readonly callsTools: boolean;
  /** The deploy's arguments (besides task and type) for an agent that acts out `acts`; `mission` is its prompt's own text. */
  deployArgs(mission: string, acts: readonly Act[]): Record<string, unknown>;
}

/** What these tests read of an agent in get_real_task_status. */
export interface AgentView {
  agent_id: string;
  status: string;
  runner: string;
  parent: string | null;
  depth: number;
  progress: number | null;
  latest_message: string | null;
  pid: number | null;
  cleanup: string;
  claimed_done: boolean;
  session_id: string | null;
  corral_connected: boolean | null;
  cost_usd: number | null;
  input_tokens: number;
  output_tokens: number;
  tool_calls: number;
  flags: string[];
  validation: { confidence: string; warnings: string[] } | null;
}
export interface Status {
  counts: Record<string, number>;
  agents: AgentView[];
  findings: { agent_id: string; data: Record<string, unknown> }[];
  latest_progress: { agent_id: string; data: Record<string, unknown> }[];
}

/** A coordinator on one task, for a backend. */
export class Session {
  constructor(
    readonly c: Coordinator,
    readonly taskId: string,
    readonly driver: BackendDriver,
  ) {}

  async deploy(agentType: string, acts: readonly Act[], runner = "process"): Promise<{ agent_id: string; pid: number | null; mission: string }> {
    const mission = `You are ${agentType}, mission ${Math.random().toString(36).slice(2)}.`;
    return { ...(await this.deployWith(agentType, { runner, ...this.driver.deployArgs(mission, acts) })), mission };
  }

  /** A deploy with these arguments, for what only one backend's tests script. */
  deployWith(agentType: string, args: Record<string, unknown>): Promise<{ agent_id: string; pid: number | null }> {
    return this.c.call("deploy_headless_agent", { task_id: this.taskId, agent_type: agentType, ...args });
  }

  status(): Promise<Status> {
    return this.c.call<Status>("get_real_task_status", { task_id: this.taskId });
  }

  async agent(id: string): Promise<AgentView> {
    return (await this.status()).agents.find((a) => a.agent_id === id) as AgentView;
  }

  async waitFor(ids: readonly string[]): Promise<void> {
    const waited = await this.c.call<{ satisfied: boolean }>("wait_for_agents", { task_id: this.taskId, agent_ids: ids, mode: "all", timeout_s: 60 });
    expect(waited.satisfied).toBe(true);
  }

  /** The agent once its cleanup is done (it runs after the end that wait_for_agents sees). */
  async cleaned(id: string): Promise<AgentView> {
    let agent = await this.agent(id);
    for (let i = 0; i < 200 && agent.cleanup !== "done"; i += 1) {
      await sleep(50);
      agent = await this.agent(id);
    }
    expect(agent.cleanup).toBe("done");
    return agent;
  }

  output(id: string, extra: Record<string, unknown> = {}): Promise<{ source: string; text: string }> {
    return this.c.call("get_agent_output", { task_id: this.taskId, agent_id: id, ...extra });
  }
}

interface Scenario {
  readonly name: string;
  /** Whether a backend, as its driver describes it, can act it out. */
  readonly applies: (driver: BackendDriver) => boolean;
  run(session: Session): Promise<void>;
}

const reportsThroughTools = (driver: BackendDriver): boolean => driver.callsTools;
const always = (): boolean => true;

/** What every finished agent's record holds, more where its backend reports more. */
function expectFinished(session: Session, agent: AgentView): void {
  expect(agent.status).toBe("completed");
  if (session.driver.capabilities.costReporting === "reported") expect(agent.cost_usd).toBeGreaterThan(0);
  if (session.driver.callsTools) expect(agent.corral_connected).toBe(true);
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "reports progress through corral's tools and claims it is done",
    applies: reportsThroughTools,
    async run(session) {
      const agent = await session.deploy("reporter", [
        { report: { status: "working", message: "halfway there", progress: 50 } },
        { report: { status: "completed", message: "all reported", progress: 100 } },
        { say: "reporter out" },
      ]);
      await session.waitFor([agent.agent_id]);
      const seen = await session.cleaned(agent.agent_id);
      expectFinished(session, seen);
      expect(seen).toMatchObject({ progress: 100, claimed_done: true });
      const messages = (await session.status()).latest_progress.filter((p) => p.agent_id === agent.agent_id).map((p) => p.data.message);
      expect(messages).toContain("all reported");
      expect(seen.validation?.confidence).toBe("high");
    },
  },
  {
    name: "reports a finding the coordinator sees with its severity",
    applies: reportsThroughTools,
    async run(session) {
      const agent = await session.deploy("finder", [
        { find: { type: "bug", severity: "high", message: "the parser drops the last line" } },
        { report: { status: "completed", message: "found one", progress: 100 } },
        { say: "finder out" },
      ]);
      await session.waitFor([agent.agent_id]);
      expectFinished(session, await session.cleaned(agent.agent_id));
      const findings = (await session.status()).findings.filter((f) => f.agent_id === agent.agent_id);
      expect(findings.map((f) => f.data)).toEqual([expect.objectContaining({ finding_type: "bug", severity: "high", message: "the parser drops the last line" })]);
    },
  },
  {
    name: "completes: ends completed and cleaned, its output archived",
    applies: always,
    async run(session) {
      const agent = await session.deploy("finisher", [{ say: "finished the work" }]);
      await session.waitFor([agent.agent_id]);
      expectFinished(session, await session.cleaned(agent.agent_id));
      const output = await session.output(agent.agent_id);
      expect(output.source).toBe("archive");
      expect(output.text).toContain("finished the work");
      expect(isAlive({ pid: agent.pid!, startTime: readStat(agent.pid!)?.startTime ?? "gone" })).toBe(false);
    },
  },
  {
    name: "runs in tmux with the same record, nothing of the terminal read as its output",
    applies: always,
    async run(session) {
      const reports = reportsThroughTools(session.driver);
      const done: Act[] = reports ? [{ report: { status: "completed", message: "done in tmux", progress: 100 } }] : [];
      const agent = await session.deploy("watched", [...done, { say: "bye from tmux" }], "tmux");
      await session.waitFor([agent.agent_id]);
      const seen = await session.cleaned(agent.agent_id);
      expectFinished(session, seen);
      expect(seen.runner).toBe("tmux");
      if (reports) expect(seen).toMatchObject({ claimed_done: true, progress: 100, validation: { confidence: "high" } });
      expect(seen.flags).toEqual([]);
      const output = await session.output(agent.agent_id);
      expect(output.text).not.toContain("\r");
      expect(output.text).not.toContain("\u001b");
      expect(output.text).toContain("bye from tmux");
    },
  },
  {
    name: "hangs and is killed: nothing of it survives, its mission was never in an argv, its output stays readable",
    applies: always,
    async run(session) {
      const agent = await session.deploy("hanger", [{ say: "about to hang" }, { hang: true }]);
      let live = await session.output(agent.agent_id);
      for (let i = 0; i < 400 && !live.text.includes("about to hang"); i += 1) {
        await sleep(50);
        live = await session.output(agent.agent_id);
      }
      expect(live.source).toBe("live");
      expect(live.text).toContain("about to hang");
      if (session.driver.structuredStream) {
        const parsed = await session.c.call<{ entries: { kind: string }[] }>("get_agent_output", { task_id: session.taskId, agent_id: agent.agent_id, format: "parsed" });
        expect(parsed.entries.map((e) => e.kind)).toEqual(expect.arrayContaining(["init", "tool_call"]));
      }
      const tree = treeOf({ pid: agent.pid!, startTime: readStat(agent.pid!)!.startTime });
      // The prompt reaches the agent on stdin: no process of it carries the mission in its argv.
      const argvs = tree.flatMap((p) => {
        try {
          return [readFileSync(`/proc/${p.pid}/cmdline`, "latin1")];
        } catch (cause) {
          // A short-lived process of the agent (a tool's shell) may be gone already.
          if ((cause as NodeJS.ErrnoException).code === "ENOENT") return [];
          throw cause;
        }
      });
      expect(argvs.some((argv) => argv.includes(agent.mission))).toBe(false);

      const killed = await session.c.call<{ cleanup: { status: string; steps: { step: string; detail: { signalled?: unknown[]; survivors?: unknown[] } }[] } }>("kill_real_agent", {
        task_id: session.taskId,
        agent_id: agent.agent_id,
        reason: "hung",
      });
      expect(killed.cleanup.status).toBe("done");
      const terminate = killed.cleanup.steps.find((s) => s.step === "terminate");
      expect(terminate?.detail.signalled?.length).toBeGreaterThanOrEqual(1);
      expect(terminate?.detail.survivors).toEqual([]);
      expect(tree.filter(isAlive)).toEqual([]);
      expect((await session.agent(agent.agent_id)).status).toBe("killed");
      const after = await session.output(agent.agent_id);
      expect(after.source).toBe("archive");
      expect(after.text).toContain("about to hang");
    },
  },
  {
    name: "fails fast on an error, ending failed with the error in its output",
    applies: always,
    async run(session) {
      const agent = await session.deploy("doomed", [{ fail: "scripted failure" }]);
      await session.waitFor([agent.agent_id]);
      const seen = await session.cleaned(agent.agent_id);
      expect(seen.status).toBe("failed");
      expect(seen.claimed_done).toBe(false);
      expect((await session.output(agent.agent_id)).text).toContain("scripted failure");
    },
  },
  {
    name: "spawns a child through corral's tools, and the depth limit refuses the grandchild",
    applies: reportsThroughTools,
    async run(session) {
      // The parent waits for its child's mark: its run ending first would stop the child.
      const childDone = `child-done-${Math.random().toString(36).slice(2)}`;
      const parent = await session.deploy("parent", [
        {
          spawn: {
            type: "child",
            acts: [
              { spawn: { type: "grandchild", acts: [{ say: "never runs" }] } },
              { report: { status: "completed", message: "child done", progress: 100 } },
              { mark: childDone },
              { say: "child out" },
            ],
          },
        },
        { awaitMark: childDone },
        { report: { status: "completed", message: "parent done", progress: 100 } },
        { say: "parent out" },
      ]);
      await session.waitFor([parent.agent_id]);
      const s = await session.status();
      const children = s.agents.filter((a) => a.parent === parent.agent_id);
      expect(children.map((k) => ({ depth: k.depth, status: k.status }))).toEqual([{ depth: 1, status: "completed" }]);
      expect(s.agents.filter((a) => a.agent_id.startsWith("grandchild"))).toEqual([]);
      const kid = await session.c.call<{ text: string }>("get_agent_output", { task_id: session.taskId, agent_id: children[0]!.agent_id });
      expect(kid.text).toMatch(/LIMIT_DEPTH/);
    },
  },
];

/**
 * Registers every scenario the driver's backend can act out as a test of the enclosing
 * describe; `session` is made in the file's beforeAll.
 */
export function scenariosFor(driver: BackendDriver, session: () => Session): void {
  for (const scenario of SCENARIOS.filter((s) => s.applies(driver))) {
    it(scenario.name, () => scenario.run(session()));
  }
}
