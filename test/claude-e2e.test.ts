import { existsSync, readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { treeOf } from "../src/supervisor/discover.js";
import { isAlive } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { scriptBlock, startModelServer, type ModelServer, type Step } from "../src/demo/model-server/index.js";
import { scriptedClaudeEnv } from "./helpers/claude-env.js";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";

const tool = (name: string, input: Record<string, unknown>): Step => ({ tool: `mcp__corral__${name}`, input });
const progress = (status: string, message: string, value: number): Step => tool("update_agent_progress", { status, message, progress: value });
const prompt = (mission: string, steps: Step[]): string => `${mission}\n\n${scriptBlock(steps)}`;

interface AgentView {
  agent_id: string;
  status: string;
  progress: number | null;
  latest_message: string | null;
  events: number;
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
interface Status {
  counts: Record<string, number>;
  agents: AgentView[];
  findings: { agent_id: string; data: Record<string, unknown> }[];
  latest_progress: { agent_id: string; data: Record<string, unknown> }[];
}
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
let taskId: string;

beforeAll(async () => {
  model = await startModelServer();
  c = await startCoordinator(scriptedClaudeEnv(model.url, {
    CORRAL_CLAUDE_ALLOWED_TOOLS: "Bash",
    CORRAL_MAX_DEPTH: "1",
    // As if corral itself ran inside a Claude Code session: agents must still start.
    CLAUDECODE: "1",
    CLAUDE_CODE_ENTRYPOINT: "cli",
  }));
  ({ task_id: taskId } = await c.call<{ task_id: string }>("create_real_task", {
    description: "scripted end-to-end run",
    success_criteria: ["every agent reports and finishes"],
  }));
});

afterAll(async () => {
  await c?.close();
  await model?.close();
});

async function deploy(agentType: string, steps: Step[], runner = "process"): Promise<{ agent_id: string; pid: number | null }> {
  return c.call("deploy_headless_agent", { task_id: taskId, agent_type: agentType, prompt: prompt(`You are ${agentType}.`, steps), model: "sonnet", runner });
}

const status = () => c.call<Status>("get_real_task_status", { task_id: taskId });
const agentIn = (s: Status, id: string): AgentView => s.agents.find((a) => a.agent_id === id) as AgentView;

describe("a coordinator fans out real claude agents through corral serve", () => {
  it("runs three agents that report progress and findings through their own agent server, and finish", async () => {
    const workers = await Promise.all(
      [1, 2, 3].map((n) =>
        deploy(`worker${n}`, [
          progress("working", `worker ${n} started`, 10),
          tool("report_agent_finding", { finding_type: "bug", severity: "high", message: `worker ${n} found a bug`, data: { n } }),
          progress("completed", `worker ${n} is done`, 100),
          { say: `worker ${n} signing off` },
        ]),
      ),
    );
    const waited = await c.call<{ satisfied: boolean; agents: AgentView[] }>("wait_for_agents", {
      task_id: taskId,
      agent_ids: workers.map((w) => w.agent_id),
      mode: "all",
      timeout_s: 60,
    });
    expect(waited.satisfied).toBe(true);

    let s = await status();
    for (const w of workers) {
      let agent = agentIn(s, w.agent_id);
      for (let i = 0; i < 100 && agent.cleanup !== "done"; i += 1) {
        await sleep(50);
        s = await status();
        agent = agentIn(s, w.agent_id);
      }
      expect(agent).toMatchObject({ status: "completed", progress: 100, claimed_done: true, corral_connected: true, cleanup: "done" });
      expect(agent.latest_message).toMatch(/worker \d (is done|signing off)/);
      expect(agent.session_id).toBeTruthy();
      expect(agent.cost_usd).toBeGreaterThan(0);
      expect(agent.input_tokens).toBeGreaterThan(0);
      expect(agent.tool_calls).toBe(3);
      expect(agent.validation?.confidence).toBe("high");
      expect(isAlive({ pid: w.pid!, startTime: readStat(w.pid!)?.startTime ?? "gone" })).toBe(false);
    }
    const findings = s.findings.filter((f) => workers.some((w) => w.agent_id === f.agent_id));
    expect(findings.map((f) => f.data.message).sort()).toEqual(["worker 1 found a bug", "worker 2 found a bug", "worker 3 found a bug"]);
    // A finding's data is the agent's own: published exactly as it was reported.
    expect(findings.map((f) => f.data.finding_type)).toEqual(["bug", "bug", "bug"]);
    expect(findings.map((f) => (f.data.data as { n: number }).n).sort()).toEqual([1, 2, 3]);
  });

  it("summarises a claude agent's output in a few hundred bytes: result, errors, counts, cost and exit, no raw stream line", async () => {
    const worker = await deploy("summarised", [
      progress("working", "started", 10),
      tool("report_agent_finding", { finding_type: "note", severity: "low", message: "one thing" }),
      progress("completed", "done", 100),
      { say: "summarised and signing off" },
    ]);
    await c.call("wait_for_agents", { task_id: taskId, agent_ids: [worker.agent_id], timeout_s: 60 });
    const reply = await c.call<{ source: string; total_bytes: number; summary: Summary }>("get_agent_output", {
      task_id: taskId,
      agent_id: worker.agent_id,
      response_format: "summary",
    });
    const bytes = Buffer.byteLength(JSON.stringify(reply));
    // The log holds claude's stream-json, kilobytes of it (its init line alone lists every tool).
    expect(reply.total_bytes).toBeGreaterThan(4 * bytes);
    expect(bytes).toBeLessThan(1000);
    expect(JSON.stringify(reply)).not.toMatch(/"type":"system"|"subtype":"init"|"tools":\[/);
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

  it("runs a claude agent in tmux with the same record: stream, reports, cost, validation", async () => {
    const watched = await deploy("watched", [progress("working", "seen in a pane", 50), progress("completed", "done in tmux", 100), { say: "bye from tmux" }], "tmux");
    await c.call("wait_for_agents", { task_id: taskId, agent_ids: [watched.agent_id], timeout_s: 60 });
    let agent = agentIn(await status(), watched.agent_id);
    for (let i = 0; i < 100 && agent.cleanup !== "done"; i += 1) {
      await sleep(50);
      agent = agentIn(await status(), watched.agent_id);
    }
    expect(agent).toMatchObject({ runner: "tmux", status: "completed", progress: 100, claimed_done: true, corral_connected: true, cleanup: "done", tool_calls: 2 });
    expect(agent.cost_usd).toBeGreaterThan(0);
    expect(agent.validation?.confidence).toBe("high");
    // claude restores the pane's terminal as it exits: none of that is read as its output.
    expect(agent.flags).toEqual([]);
    const text = await c.call<{ text: string }>("get_agent_output", { task_id: taskId, agent_id: watched.agent_id });
    expect(text.text).not.toContain("\r");
    expect(text.text).not.toContain("\u001b");
    expect(text.text).toContain('"result":"bye from tmux"');
  });

  it("kills an agent that hangs, with its agent server, and can read its output before and after", async () => {
    const hung = await deploy("hanger", [progress("working", "about to hang", 50), { hang: true }]);
    for (let i = 0; i < 200; i += 1) {
      const agent = agentIn(await status(), hung.agent_id);
      if (agent.progress === 50) break;
      await sleep(50);
    }
    const live = await c.call<{ source: string; entries: { kind: string }[] }>("get_agent_output", {
      task_id: taskId,
      agent_id: hung.agent_id,
      format: "parsed",
    });
    expect(live.source).toBe("live");
    expect(live.entries.map((e) => e.kind)).toContain("init");
    expect(live.entries.map((e) => e.kind)).toContain("tool_call");
    // The mission reaches claude on stdin: no process of the agent carries it in its argv.
    const tree = treeOf({ pid: hung.pid!, startTime: readStat(hung.pid!)!.startTime });
    const argvs = tree.map((p) => readFileSync(`/proc/${p.pid}/cmdline`, "latin1").split("\0"));
    expect(argvs.some((argv) => argv.includes("-p") && argv.includes("stream-json"))).toBe(true);
    expect(argvs.some((argv) => argv.some((arg) => arg.includes("about to hang") || arg.includes("You are hanger")))).toBe(false);

    const killed = await c.call<{ cleanup: { status: string; steps: { step: string; detail: { signalled?: unknown[]; survivors?: unknown[] } }[] } }>(
      "kill_real_agent",
      { task_id: taskId, agent_id: hung.agent_id, reason: "hung" },
    );
    expect(killed.cleanup.status).toBe("done");
    const terminate = killed.cleanup.steps.find((s) => s.step === "terminate");
    // claude, its agent server, and tini: none survived. (How many needed a signal of corral's
    // depends on timing: claude stops its own agent server, and in a cgroup tini exits with its child.)
    expect(terminate?.detail.signalled?.length).toBeGreaterThanOrEqual(1);
    expect(terminate?.detail.survivors).toEqual([]);
    expect(tree.length).toBeGreaterThanOrEqual(3);
    expect(tree.filter(isAlive)).toEqual([]);
    const after = await c.call<{ source: string; text: string }>("get_agent_output", { task_id: taskId, agent_id: hung.agent_id });
    expect(after.source).toBe("archive");
    expect(after.text).toContain("about to hang");
  });

  it("lets an agent spawn a child, and the depth limit refuses the grandchild", async () => {
    const child = [
      tool("spawn_child_agent", { child_agent_type: "grandchild", child_prompt: "never runs" }),
      progress("completed", "child done", 100),
      { say: "child out" },
    ];
    const parent = await deploy("parent", [
      tool("spawn_child_agent", { child_agent_type: "child", child_prompt: prompt("You are the child.", child) }),
      { tool: "Bash", input: { command: "sleep 6", description: "give the child time" } },
      progress("completed", "parent done", 100),
      { say: "parent out" },
    ]);
    await c.call("wait_for_agents", { task_id: taskId, agent_ids: [parent.agent_id], timeout_s: 60 });
    const s = await status();
    const children = s.agents.filter((a) => (a as AgentView & { parent: string | null }).parent === parent.agent_id);
    expect(children).toHaveLength(1);
    const kid = children[0] as AgentView & { depth: number };
    expect(kid.depth).toBe(1);
    expect(kid.status).toBe("completed");
    expect(s.agents.filter((a) => a.agent_id.startsWith("grandchild"))).toEqual([]);
    const kidOutput = await c.call<{ entries: { kind: string; is_error?: boolean; excerpt?: string }[] }>("get_agent_output", {
      task_id: taskId,
      agent_id: kid.agent_id,
      format: "parsed",
    });
    const refusal = kidOutput.entries.find((e) => e.kind === "tool_result" && e.is_error === true);
    expect(refusal?.excerpt).toMatch(/LIMIT_DEPTH/);
  });

  it("records where each agent's transcript is, keeps it with the archive and removes it with the archive", async () => {
    const agent = await deploy("remembered", [progress("completed", "nothing to do", 100), { say: "kept for resume" }]);
    await c.call("wait_for_agents", { task_id: taskId, agent_ids: [agent.agent_id], timeout_s: 60 });
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
    const victim = await deploy("victim", [progress("working", "the real one", 5), { hang: true }]);
    const impostor = await deploy("impostor", [
      tool("update_agent_progress", { status: "completed", message: "forged", progress: 100, agent_id: victim.agent_id }),
      { say: "tried" },
    ]);
    await c.call("wait_for_agents", { task_id: taskId, agent_ids: [impostor.agent_id], timeout_s: 60 });
    const output = await c.call<{ entries: { kind: string; is_error?: boolean; excerpt?: string }[] }>("get_agent_output", {
      task_id: taskId,
      agent_id: impostor.agent_id,
      format: "parsed",
    });
    expect(output.entries.find((e) => e.kind === "tool_result")?.excerpt).toMatch(/"code":"AUTH_REFUSED","message":"you are agent impostor-.* cannot act for agent victim-/);
    const s = await status();
    const forged = s.latest_progress.filter((p) => p.data.message === "forged");
    expect(forged).toEqual([]);
    expect(agentIn(s, victim.agent_id).claimed_done).toBe(false);
    await c.call("kill_real_agent", { task_id: taskId, agent_id: victim.agent_id });
  });
});
