import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import { findBackend } from "../../src/backends/registry.js";
import { scriptBlock, startModelServer, type ModelServer, type Step } from "../../src/demo/model-server/index.js";
import { loadConfig } from "../../src/lifecycle/config-loader.js";
import { Corral } from "../../src/lifecycle/corral.js";
import { createLogger } from "../../src/lifecycle/logger.js";
import { scriptedClaudeEnv } from "../helpers/claude-env.js";
import { startCoordinator, type Coordinator } from "../helpers/mcp-client.js";
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
  deployArgs: (mission, acts) => ({ backend: "claude", prompt: prompt(mission, acts), model: "sonnet" }),
};

let model: ModelServer;
let c: Coordinator;
let session: Session;

beforeAll(async () => {
  model = await startModelServer();
  c = await startCoordinator(
    scriptedClaudeEnv(model.url, {
      CORRAL_BACKENDS_CLAUDE_ALLOWED_TOOLS: "Bash",
      CORRAL_MAX_DEPTH: "1",
      // As if corral itself ran inside a Claude Code session: agents must still start.
      CLAUDECODE: "1",
      CLAUDE_CODE_ENTRYPOINT: "cli",
    }),
  );
  const { task_id } = await c.call<{ task_id: string }>("create_real_task", {
    description: "scripted end-to-end run",
    success_criteria: ["every agent reports and finishes"],
  });
  session = new Session(c, task_id, driver);
});

afterAll(async () => {
  await c?.close();
  await model?.close();
});

describe("the claude backend, end to end: real claude agents through corral serve", () => {
  scenariosFor(driver, () => session);

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
      expect(agent).toMatchObject({ status: "completed", progress: 100, claimedDone: true, corralConnected: true, toolCalls: 3 });
      expect(agent.latestMessage).toMatch(/worker \d (is done|signing off)/);
      expect(agent.sessionId).toBeTruthy();
      expect(agent.costUsd).toBeGreaterThan(0);
      expect(agent.inputTokens).toBeGreaterThan(0);
      expect(agent.validation?.confidence).toBe("high");
    }
    const findings = (await session.status()).findings.filter((f) => workers.some((w) => w.agent_id === f.agentId));
    expect(findings.map((f) => f.data.message).sort()).toEqual(["worker 1 found a bug", "worker 2 found a bug", "worker 3 found a bug"]);
    const summary = await c.call<{ source: string; summary: { result: { isError: boolean; text: string } | null; toolCalls: Record<string, number> } }>(
      "get_agent_output",
      { task_id: session.taskId, agent_id: workers[0]!.agent_id, response_format: "summary" },
    );
    expect(summary.source).toBe("archive");
    expect(summary.summary.result).toEqual({ isError: false, text: "worker 1 signing off" });
    expect(summary.summary.toolCalls).toEqual({ mcp__corral__update_agent_progress: 2, mcp__corral__report_agent_finding: 1 });
  });

  it("records an API error as the run's result, an error", async () => {
    const doomed = await session.deploy("erring", [{ fail: "no such model" }]);
    await session.waitFor([doomed.agent_id]);
    await session.cleaned(doomed.agent_id);
    const summary = await c.call<{ summary: { result: { isError: boolean; text: string } | null } }>("get_agent_output", {
      task_id: session.taskId,
      agent_id: doomed.agent_id,
      response_format: "summary",
    });
    expect(summary.summary.result).toMatchObject({ isError: true, text: expect.stringContaining("no such model") });
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
    const output = await c.call<{ entries: { kind: string; isError?: boolean; excerpt?: string }[] }>("get_agent_output", {
      task_id: session.taskId,
      agent_id: impostor.agent_id,
      format: "parsed",
    });
    expect(output.entries.find((e) => e.kind === "tool_result")?.excerpt).toMatch(/AUTH_REFUSED: you are agent impostor-.* cannot act for agent victim-/);
    const s = await session.status();
    expect(s.latestProgress.filter((p) => p.data.message === "forged")).toEqual([]);
    expect((await session.agent(victim.agent_id)).claimedDone).toBe(false);
    await c.call("kill_real_agent", { task_id: session.taskId, agent_id: victim.agent_id });
  });
});
