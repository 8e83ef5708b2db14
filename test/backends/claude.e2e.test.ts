import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import { findBackend } from "../../src/backends/registry.js";
import { scriptBlock, startModelServer, type ModelServer, type Step } from "../../src/demo/model-server/index.js";
import { loadConfig } from "../../src/lifecycle/config-loader.js";
import { Corral } from "../../src/lifecycle/corral.js";
import { createLogger } from "../../src/lifecycle/logger.js";
import { treeOf } from "../../src/supervisor/discover.js";
import { readStat } from "../../src/supervisor/procfs.js";
import { scriptedClaudeEnv } from "../helpers/claude-env.js";
import { startCoordinator, type Coordinator } from "../helpers/mcp-client.js";
import { withStore } from "../helpers/store.js";
import { scenariosFor, Session, type Act, type BackendDriver } from "./scenarios.js";

const tool = (name: string, input: Record<string, unknown>): Step => ({ tool: `mcp__corral__${name}`, input });

/** The model script that makes a real claude act out `acts`, for the scripted model server. */
function steps(acts: readonly Act[]): Step[] {
  return acts.map((act, i): Step => {
    if ("say" in act) {
      // Text ends a turn: only the last act can be one; before, it is printed by a tool call.
      return i === acts.length - 1 ? { say: act.say } : { tool: "Bash", input: { command: `echo ${JSON.stringify(act.say)}`, description: "say it" } };
    }
    if ("report" in act) return tool("update_agent_progress", act.report);
    if ("find" in act) return tool("report_agent_finding", { finding_type: act.find.type, severity: act.find.severity, message: act.find.message });
    if ("spawn" in act) return tool("spawn_child_agent", { child_agent_type: act.spawn.type, child_prompt: prompt(`You are the ${act.spawn.type}.`, act.spawn.acts) });
    if ("mark" in act) return { tool: "Bash", input: { command: `touch ${act.mark}`, description: "leave a mark" } };
    if ("awaitMark" in act) return { tool: "Bash", input: { command: `for i in $(seq 300); do [ -e ${act.awaitMark} ] && break; sleep 0.2; done; sleep 5`, description: "wait for a mark" } };
    if ("hang" in act) return { hang: true };
    return { fail: 400, message: act.fail };
  });
}
const prompt = (mission: string, acts: readonly Act[]): string => `${mission}\n\n${scriptBlock(steps(acts))}`;

const driver: BackendDriver = {
  backend: "claude",
  capabilities: unwrap(findBackend("claude")).capabilities,
  structuredStream: true,
  callsTools: true,
  deployArgs: (mission, acts) => ({ backend: "claude", prompt: prompt(mission, acts), model: "sonnet" }),
};

/** What a summary of an agent's output is (response_format: "summary"). */
interface Summary {
  status: string;
  exit: unknown;
  result: { is_error: boolean; text: string | null } | null;
  errors: string[];
  error_count: number;
  events: number;
  tool_calls: number;
  tools_used: Record<string, number>;
  denials: number;
  cost_usd: number | null;
  input_tokens: number;
  output_tokens: number;
  num_turns: number | null;
  last_lines: string[];
}

let model: ModelServer;
let c: Coordinator;
let session: Session;

/** A coordinator whose claude agents reach corral's tools as `agentTools` says, and a task on it. */
async function coordinator(agentTools: "http" | "server"): Promise<{ c: Coordinator; session: Session }> {
  const started = await startCoordinator(
    scriptedClaudeEnv(model.url, {
      CORRAL_BACKENDS_CLAUDE_ALLOWED_TOOLS: "Bash",
      CORRAL_MAX_DEPTH: "1",
      CORRAL_AGENT_TOOLS: agentTools,
      // As if corral itself ran inside a Claude Code session: agents must still start.
      CLAUDECODE: "1",
      CLAUDE_CODE_ENTRYPOINT: "cli",
    }),
  );
  const { task_id } = await started.call<{ task_id: string }>("create_real_task", {
    description: "scripted end-to-end run",
    success_criteria: ["every agent reports and finishes"],
  });
  return { c: started, session: new Session(started, task_id, driver) };
}

beforeAll(async () => {
  model = await startModelServer();
  ({ c, session } = await coordinator("http"));
});

afterAll(async () => {
  await c?.close();
  await model?.close();
});

describe("with agentTools=server: each claude agent's tools in a corral serve --agent process of its own", () => {
  let own: { c: Coordinator; session: Session } | undefined;
  beforeAll(async () => {
    own = await coordinator("server");
  });
  afterAll(async () => {
    await own?.c.close();
  });
  scenariosFor(driver, () => (own as { session: Session }).session);
});

describe("the claude backend, end to end: real claude agents through corral serve", () => {
  scenariosFor(driver, () => session);

  it("calls its tools on its corral's loopback endpoint, with no process of corral's in its tree and its token in no file", async () => {
    const agent = await session.deploy("caller", [{ report: { status: "working", message: "over http", progress: 5 } }, { hang: true }]);
    for (let i = 0; i < 400 && (await session.agent(agent.agent_id)).progress !== 5; i += 1) await sleep(50);
    const row = withStore(c.home, (store) => store.agents.get(agent.agent_id as AgentId));
    const config = readFileSync(join(row?.agentDir ?? "", "mcp.json"), "utf8");
    expect(JSON.parse(config)).toEqual({ mcpServers: { corral: { type: "http", url: row?.toolsUrl, headers: { Authorization: "Bearer ${CORRAL_AGENT_TOKEN}" } } } });
    const tree = treeOf({ pid: agent.pid!, startTime: readStat(agent.pid!)!.startTime });
    const argvs = tree.map((p) => readFileSync(`/proc/${p.pid}/cmdline`, "latin1"));
    expect(argvs.filter((argv) => argv.includes("serve\0--agent"))).toEqual([]);
    await c.call("kill_real_agent", { task_id: session.taskId, agent_id: agent.agent_id });
  });

  it("runs three agents at once, each with its own stream, tool calls, cost and validation", async () => {
    const workers = await Promise.all(
      [1, 2, 3].map((n) =>
        session.deploy(`worker${n}`, [
          { report: { status: "working", message: `worker ${n} started`, progress: 10 } },
          { find: { type: "bug", severity: "high", message: `worker ${n} found a bug` } },
          { report: { status: "completed", message: `worker ${n} is done`, progress: 100 } },
          { say: `worker ${n} signing off` },
        ]),
      ),
    );
    await session.waitFor(workers.map((w) => w.agent_id));
    for (const w of workers) {
      const agent = await session.cleaned(w.agent_id);
      expect(agent).toMatchObject({ status: "completed", progress: 100, claimed_done: true, corral_connected: true, tool_calls: 3 });
      expect(agent.latest_message).toMatch(/worker \d (is done|signing off)/);
      expect(agent.session_id).toBeTruthy();
      expect(agent.cost_usd).toBeGreaterThan(0);
      expect(agent.input_tokens).toBeGreaterThan(0);
      expect(agent.validation?.confidence).toBe("high");
    }
    const findings = (await session.status()).findings.filter((f) => workers.some((w) => w.agent_id === f.agent_id));
    expect(findings.map((f) => f.data.message).sort()).toEqual(["worker 1 found a bug", "worker 2 found a bug", "worker 3 found a bug"]);
    // A finding's data is the agent's own: its keys are published as the agent wrote them.
    expect(findings.map((f) => f.data.finding_type)).toEqual(["bug", "bug", "bug"]);
  });

  it("summarises an agent's output in a few hundred bytes: result, errors, counts, cost and exit, no raw stream line", async () => {
    const worker = await session.deploy("summarised", [
      { report: { status: "working", message: "started", progress: 10 } },
      { find: { type: "note", severity: "low", message: "one thing" } },
      { report: { status: "completed", message: "done", progress: 100 } },
      { say: "summarised and signing off" },
    ]);
    await session.waitFor([worker.agent_id]);
    await session.cleaned(worker.agent_id);
    const reply = await c.call<{ source: string; total_bytes: number; summary: Summary }>("get_agent_output", {
      task_id: session.taskId,
      agent_id: worker.agent_id,
      response_format: "summary",
    });
    const bytes = Buffer.byteLength(JSON.stringify(reply));
    // The log holds claude's stream-json, kilobytes of it (its init line alone lists every tool).
    expect(reply.total_bytes).toBeGreaterThan(4 * bytes);
    expect(bytes).toBeLessThan(1000);
    expect(JSON.stringify(reply)).not.toMatch(/"type":"system"|"subtype":"init"|"tools":\[/);
    expect(reply.source).toBe("archive");
    expect(reply.summary).toMatchObject({
      status: "completed",
      exit: { kind: "exited", code: 0 },
      result: { is_error: false, text: "summarised and signing off" },
      errors: [],
      error_count: 0,
      tool_calls: 3,
      tools_used: { mcp__corral__update_agent_progress: 2, mcp__corral__report_agent_finding: 1 },
      denials: 0,
      last_lines: [],
    });
    expect(reply.summary.events).toBeGreaterThan(3);
    expect(reply.summary.cost_usd).toBeGreaterThan(0);
    expect(reply.summary.input_tokens).toBeGreaterThan(0);
    expect(reply.summary.output_tokens).toBeGreaterThan(0);
    expect(reply.summary.num_turns).toBeGreaterThan(0);
  });

  it("records an API error as the run's result, an error", async () => {
    const doomed = await session.deploy("erring", [{ fail: "no such model" }]);
    await session.waitFor([doomed.agent_id]);
    await session.cleaned(doomed.agent_id);
    const summary = await c.call<{ summary: { result: { is_error: boolean; text: string } | null } }>("get_agent_output", {
      task_id: session.taskId,
      agent_id: doomed.agent_id,
      response_format: "summary",
    });
    expect(summary.summary.result).toMatchObject({ is_error: true, text: expect.stringContaining("no such model") });
  });

  it("records where each agent's transcript is, keeps it with the archive and removes it with the archive", async () => {
    const agent = await session.deploy("remembered", [{ report: { status: "completed", message: "nothing to do", progress: 100 } }, { say: "kept for resume" }]);
    await session.waitFor([agent.agent_id]);
    // Another process on the same store, as `corral gc` would be, with a retention of one day.
    const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: c.home })), retentionDays: 1 };
    const reader = unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
    try {
      const cleaned = await reader.whenCleaned(agent.agent_id as AgentId, 30_000);
      const sessionId = cleaned.stream.sessionId!;
      // Claude Code's own layout: the config dir, projects, the cwd made a name, the session.
      const expected = join(process.env.CLAUDE_CONFIG_DIR!, "projects", cleaned.cwd.replace(/[^a-zA-Z0-9]/g, "-"), `${sessionId}.jsonl`);
      expect(cleaned.transcriptPath).toBe(expected);
      expect(readFileSync(expected, "utf8")).toContain("kept for resume");
      const step = reader.cleanupRecord(cleaned.id).steps.find((st) => st.step === "record_outcome");
      expect(step?.detail).toMatchObject({ transcript: expected });

      expect(reader.gc().transcriptsDeleted).toEqual([]);
      expect(existsSync(expected)).toBe(true);
      const db = new Database(join(c.home, "corral.db"));
      db.prepare("UPDATE agents SET ended_at = ? WHERE id = ?").run(Date.now() - 2 * 86_400_000, cleaned.id);
      db.close();
      const report = reader.gc();
      expect(report.archivesDeleted.map((a) => a.agentId)).toEqual([cleaned.id]);
      expect(report.transcriptsDeleted).toEqual([{ agentId: cleaned.id, path: expected, bytes: expect.any(Number) }]);
      expect(existsSync(expected)).toBe(false);
      expect(existsSync(join(process.env.CLAUDE_CONFIG_DIR!, "session-env", sessionId))).toBe(false);
      expect(reader.agent(cleaned.id)?.transcriptPath).toBeNull();
    } finally {
      await reader.close();
    }
  });

  it("refuses an agent that reports as another agent", async () => {
    const victim = await session.deploy("victim", [{ report: { status: "working", message: "the real one", progress: 5 } }, { hang: true }]);
    const impostor = await session.deployWith("impostor", {
      backend: "claude",
      prompt: `You are impostor.\n\n${scriptBlock([tool("update_agent_progress", { status: "completed", message: "forged", progress: 100, agent_id: victim.agent_id }), { say: "tried" }])}`,
    });
    await session.waitFor([impostor.agent_id]);
    const output = await c.call<{ entries: { kind: string; is_error?: boolean; excerpt?: string }[] }>("get_agent_output", {
      task_id: session.taskId,
      agent_id: impostor.agent_id,
      format: "parsed",
    });
    expect(output.entries.find((e) => e.kind === "tool_result")?.excerpt).toMatch(/"code":"AUTH_REFUSED","message":"you are agent impostor-.* cannot act for agent victim-/);
    const s = await session.status();
    expect(s.latest_progress.filter((p) => p.data.message === "forged")).toEqual([]);
    expect((await session.agent(victim.agent_id)).claimed_done).toBe(false);
    await c.call("kill_real_agent", { task_id: session.taskId, agent_id: victim.agent_id });
  });
});
