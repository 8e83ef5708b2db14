import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { scriptBlock, startModelServer, type ModelServer, type Step } from "../src/demo/model-server/index.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { hashToken, newToken } from "../src/lifecycle/tokens.js";
import { readStat } from "../src/supervisor/procfs.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { scriptedClaudeEnv } from "./helpers/claude-env.js";
import { startCoordinator } from "./helpers/mcp-client.js";
import { agentScript, openCorral } from "./helpers/sandbox.js";
import { agentRow, cleanupClaim, launchOf } from "./helpers/builders.js";
import { withStore } from "./helpers/store.js";

const IMPOSTOR = join(import.meta.dirname, "..", "dist", "test", "fixtures", "workers", "impostor.js");
const TOOLS = [
  ["update_agent_progress", { status: "completed", message: "m", progress: 100 }],
  ["report_agent_finding", { finding_type: "bug", severity: "critical", message: "m" }],
  ["spawn_child_agent", { child_agent_type: "helper", child_prompt: "p" }],
  ["get_task_context", {}],
] as const;

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

/** A claude-backend agent whose CLI idles until killed: it holds a token and an MCP config. */
async function idleClaudeAgent(c: Corral, taskId: string, agentType = "victim") {
  const agent = unwrap(await c.deploy({ taskId, agentType, prompt: "do the work", backend: "claude" }));
  const root = agent.process?.pid;
  if (root === undefined) throw new Error("the agent has no process");
  return { agent, root };
}

/** What an agent of the same user can read of another's token: its process environment. */
function tokenOf(pid: number): string {
  const entry = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").find((e) => e.startsWith("CORRAL_AGENT_TOKEN="));
  if (entry === undefined) throw new Error(`no token in the environment of ${pid}`);
  return entry.slice("CORRAL_AGENT_TOKEN=".length);
}

describe("an agent speaks only for itself", () => {
  it("an ended agent's token is refused by every agent tool", async () => {
    corral = openCorral({ backends: { claude: { path: agentScript("idle-claude.sh") } } });
    const task = unwrap(corral.createTask({ description: "ended token" }));
    const { agent, root } = await idleClaudeAgent(corral, task.id);
    const token = tokenOf(root);
    await corral.kill(agent.id, "ended for the test");
    const server = await startCoordinator({ CORRAL_HOME: corral.config.home, CORRAL_AGENT_TOKEN: token }, ["--agent"]);
    try {
      for (const [tool, args] of TOOLS) {
        expect(await server.refused(tool, args)).toBe(`AUTH_REFUSED: agent ${agent.id} has ended (killed): nothing more is accepted in its name`);
      }
    } finally {
      await server.close();
    }
    expect(withStore(corral.config.home, (store) => store.events.forTask(task.id)).filter((e) => e.kind !== "stream")).toEqual([]);
  });

  it("the agent's token is not written to its MCP config", async () => {
    corral = openCorral({ backends: { claude: { path: agentScript("idle-claude.sh") } } });
    const task = unwrap(corral.createTask({ description: "config without token" }));
    const { agent, root } = await idleClaudeAgent(corral, task.id);
    const config = readFileSync(join(agent.agentDir, "mcp.json"), "utf8");
    expect(config).not.toContain(tokenOf(root));
    expect(config).toContain("${CORRAL_AGENT_TOKEN}");
  });

  it("a token used from outside its agent's processes is refused", async () => {
    corral = openCorral({ backends: { claude: { path: agentScript("idle-claude.sh") } } });
    const task = unwrap(corral.createTask({ description: "token outside" }));
    const { agent, root } = await idleClaudeAgent(corral, task.id);
    const server = await startCoordinator({ CORRAL_HOME: corral.config.home, CORRAL_AGENT_TOKEN: tokenOf(root) }, ["--agent"]);
    try {
      for (const [tool, args] of TOOLS) {
        expect(await server.refused(tool, args)).toMatch(
          new RegExp(`^AUTH_REFUSED: this server does not run inside agent ${agent.id}'s processes \\(root pid ${root}\\)`),
        );
      }
    } finally {
      await server.close();
    }
    expect(withStore(corral.config.home, (store) => store.events.forTask(task.id))).toEqual([]);
  });

  it("a sibling that steals another agent's token and starts corral serve --agent with it is refused, and nothing is recorded in the victim's name", async () => {
    corral = openCorral({ backends: { claude: { path: agentScript("idle-claude.sh") } } });
    const task = unwrap(corral.createTask({ description: "stolen token" }));
    const { agent: victim, root } = await idleClaudeAgent(corral, task.id);
    const report = join(corral.config.home, "impostor.json");
    const impostor = unwrap(
      await corral.deploy({
        taskId: task.id,
        agentType: "impostor",
        prompt: "act as the victim",
        command: [process.execPath, IMPOSTOR, String(root), victim.agentDir, corral.config.home, report],
      }),
    );
    const ended = await corral.whenCleaned(impostor.id);
    expect(ended.status).toBe("completed");
    const seen = JSON.parse(readFileSync(report, "utf8")) as { configText: string; stolen: string; answers: Record<string, { isError: boolean; text: string }> };
    expect(seen.stolen).toBe(tokenOf(root));
    expect(seen.configText).not.toContain(seen.stolen);
    for (const [tool] of TOOLS) {
      expect(seen.answers[tool]).toEqual({
        isError: true,
        text: expect.stringMatching(new RegExp(`^\\{"error":\\{"code":"AUTH_REFUSED","message":"this server (does not run inside agent ${victim.id}'s processes|runs inside agent ${impostor.id})`)),
      });
    }
    const after = unwrap(corral.status(task.id));
    expect(after.agents.map((a) => a.agentId).sort()).toEqual([impostor.id, victim.id].sort());
    const victimView = after.agents.find((a) => a.agentId === victim.id);
    expect(victimView).toMatchObject({ status: "running", claimedDone: false, events: 0 });
    expect(withStore(corral.config.home, (store) => store.events.forTask(task.id))).toEqual([]);
  });

  it("an agent server that starts before its agent's process is recorded waits for the record, acts for it, and refuses it once it has ended", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "launch window" }));
    const token = newToken();
    const id = "early-000000-000001" as AgentId;
    unwrap(
      withStore(corral.config.home, (store) => store.agents.insert(agentRow(task, corral.owner, { id, tokenHash: hashToken(token) }), corral.config)),
    );
    const server = await startCoordinator({ CORRAL_HOME: corral.config.home, CORRAL_AGENT_TOKEN: token }, ["--agent"]);
    try {
      const call = server.call("update_agent_progress", { status: "working", message: "early", progress: 1 });
      // Time for the server to be waiting on the row; were it slower, the record would be
      // there when it looks, and the outcome the same.
      await sleep(300);
      // This test process stands as the agent's root: the server is its child.
      const self = readStat(process.pid);
      if (self === null) throw new Error("cannot read /proc/self/stat");
      withStore(corral.config.home, (store) => store.runs.recordLaunch(id, launchOf(self), Date.now()));
      expect(await call).toMatchObject({ recorded: true });
      // Its root is this process: the row is ended by hand, not by a kill.
      withStore(corral.config.home, (store) => store.runs.end(id, { status: "completed", reason: null, exit: null, at: Date.now(), claim: cleanupClaim("e") }));
      for (const [tool, args] of TOOLS) {
        expect(await server.refused(tool, args)).toBe(`AUTH_REFUSED: agent ${id} has ended (completed): nothing more is accepted in its name`);
      }
    } finally {
      await server.close();
    }
    expect(withStore(corral.config.home, (store) => store.events.forTask(task.id)).map((e) => (e.data as { message?: unknown }).message)).toEqual(["early"]);
  });
});

describe("a real claude agent and its child", () => {
  let model: ModelServer;
  beforeAll(async () => {
    model = await startModelServer();
    // The agents, and the agent servers they start, read their configuration from here.
    Object.assign(process.env, scriptedClaudeEnv(model.url, {
      CORRAL_BACKENDS_CLAUDE_ALLOWED_TOOLS: "Bash",
    }));
  });
  afterAll(async () => {
    await model?.close();
  });

  it("a child that takes its parent's token from its own ancestry cannot act for its parent", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "child as parent" }));
    const report = join(process.env.CORRAL_TEST_ROOT as string, "child-impostor.json");
    const child = scriptBlock([{ tool: "Bash", input: { command: `${process.execPath} ${IMPOSTOR} parent - ${corral.config.home} ${report}` } }, { say: "child done" }]);
    const steps: Step[] = [
      { tool: "mcp__corral__spawn_child_agent", input: { child_agent_type: "child", child_prompt: `You are the child.\n\n${child}` } },
      // The parent lives until its child has tried.
      { tool: "Bash", input: { command: `while [ ! -e ${report} ]; do sleep 0.05; done` } },
      { say: "parent done" },
    ];
    const parent = unwrap(await corral.deploy({ taskId: task.id, agentType: "parent", prompt: `You are the parent.\n\n${scriptBlock(steps)}`, backend: "claude", model: "sonnet" }));
    await corral.whenCleaned(parent.id);
    const agents = unwrap(corral.status(task.id)).agents;
    const spawned = agents.find((a) => a.agentId !== parent.id);
    if (spawned === undefined) throw new Error("the parent spawned no child");
    await corral.whenCleaned(spawned.agentId as AgentId);
    const seen = JSON.parse(readFileSync(report, "utf8")) as { stolen: string; answers: Record<string, { isError: boolean; text: string }> };
    expect(seen.stolen).not.toBe("");
    for (const [tool] of TOOLS) {
      expect(seen.answers[tool]).toEqual({
        isError: true,
        text: JSON.stringify({
          error: {
            code: "AUTH_REFUSED",
            message: `this server runs inside agent ${spawned.agentId}, not agent ${parent.id}: an agent can act only for itself, whatever token it holds`,
          },
        }),
      });
    }
    expect(agents.map((a) => a.agentId).sort()).toEqual([parent.id, spawned.agentId].sort());
    expect(withStore(corral.config.home, (store) => store.events.forTask(task.id)).filter((e) => e.kind !== "stream")).toEqual([]);
  });
});
