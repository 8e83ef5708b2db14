import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { scriptBlock, startModelServer, type ModelServer, type Step } from "../src/demo/model-server/index.js";
import { unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { serveOwnAgents } from "../src/mcp/agent-serving.js";
import { scriptedClaudeEnv } from "./helpers/claude-env.js";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";

const root = (): string => process.env.CORRAL_TEST_ROOT as string;
const tool = (name: string, input: Record<string, unknown>): Step => ({ tool: `mcp__corral__${name}`, input });

let corral: Corral | null = null;
afterEach(async () => {
  await corral?.shutdown("test over");
  corral = null;
});

function containedCorral(subreaper: "auto" | "none"): Corral {
  const opened = openCorral({ containment: "bwrap", subreaper });
  serveOwnAgents(opened, "test", createLogger("silent"));
  return opened;
}

describe.each([
  ["process", "auto"],
  ["process", "none"],
  ["tmux", "auto"],
  ["tmux", "none"],
] as const)("under bwrap, with the %s runner and subreaper %s", (runner, subreaper) => {
  it("an agent cannot list or read the state dir or a sibling's dir, but can write its cwd", async () => {
    corral = containedCorral(subreaper);
    const home = corral.config.home;
    const task = unwrap(corral.createTask({ description: "containment" }));
    const cwd = mkdtempSync(join(root(), "work-"));
    const sibling = unwrap(await corral.deploy({ taskId: task.id, agentType: "sibling", prompt: "secret sibling prompt", command: ["sleep", "600"], cwd, runner }));
    const probe = [
      `check() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }`,
      "{",
      `echo "db=$(check test -e '${home}/corral.db')"`,
      `echo "state=$(ls -A '${home}' | tr '\\n' ' ')"`,
      // What it writes there lands in a private, empty tmpfs, never in the real database.
      `echo WRITTEN-FROM-THE-SANDBOX >> '${home}/corral.db'`,
      `echo "agents=$(ls -A '${task.workspace}/agents' | tr '\\n' ' ')"`,
      `echo "relays=$(ls -A '${home}/relay' | tr '\\n' ' ')"`,
      `echo "sibling_dir=$(check ls '${sibling.agentDir}')"`,
      `echo "sibling_prompt=$(check cat '${sibling.agentDir}/prompt.txt')"`,
      `echo "logs=$(check ls '${task.workspace}/logs')"`,
      `echo "archive=$(check ls '${task.workspace}/archive')"`,
      `echo "own_prompt=$(cat "$CORRAL_PROMPT_FILE")"`,
      `echo "sibling_environ=$(grep -l '${sibling.mark}' /proc/[0-9]*/environ 2>/dev/null | wc -l)"`,
      `echo "tmp=$(ls -A '${root()}' | tr '\\n' ' ')"`,
      `echo "root_home=$(ls -A /root 2>/dev/null | wc -l)"`,
      "} > report.txt",
      "echo made > made-by-agent",
    ].join("\n");
    const prober = unwrap(await corral.deploy({ taskId: task.id, agentType: "prober", prompt: "own prompt", command: ["bash", "-c", probe], cwd, runner }));
    const ended = await corral.whenCleaned(prober.id);
    expect(ended.status).toBe("completed");
    const report = Object.fromEntries(
      readFileSync(join(cwd, "report.txt"), "utf8")
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1).trim()]),
    );
    expect(report).toEqual({
      db: "no",
      // Only the path down to its own dirs exists in its view of the state dir.
      state: "relay workspaces",
      agents: prober.id,
      relays: prober.id,
      sibling_dir: "no",
      sibling_prompt: "no",
      logs: "no",
      archive: "no",
      own_prompt: "own prompt",
      sibling_environ: "0",
      // /tmp is private and empty but for the way down to its cwd and its own dirs.
      tmp: `${basename(home)} ${basename(cwd)}`,
      // People's home dirs are hidden: keys, credentials, other projects.
      root_home: "0",
    });
    expect(readFileSync(join(cwd, "made-by-agent"), "utf8")).toBe("made\n");
    expect(readFileSync(join(home, "corral.db"), "latin1")).not.toContain("WRITTEN-FROM-THE-SANDBOX");
    expect(unwrap(corral.status(task.id)).agents.find((a) => a.agentId === sibling.id)?.status).toBe("running");
  });
});

describe("a contained agent's cwd inside the state dir", () => {
  it("is refused outside its own task's workspace, or inside its agents, logs or archive dirs", async () => {
    corral = containedCorral("auto");
    const mine = unwrap(corral.createTask({ description: "mine" }));
    const other = unwrap(corral.createTask({ description: "other" }));
    for (const cwd of [corral.config.home, other.workspace, join(mine.workspace, "logs"), join(mine.workspace, "agents")]) {
      const deployed = await corral.deploy({ taskId: mine.id, agentType: "misplaced", prompt: "p", command: ["true"], cwd });
      expect(deployed.ok ? "launched" : deployed.error.message).toMatch(/under containment, an agent's cwd inside the state dir must be in its own task's workspace/);
    }
    const inWorkspace = unwrap(await corral.deploy({ taskId: mine.id, agentType: "placed", prompt: "p", command: ["true"], cwd: mine.workspace }));
    expect((await corral.whenCleaned(inWorkspace.id)).status).toBe("completed");
  });
});

describe("a contained claude agent", () => {
  let model: ModelServer;
  let c: Coordinator;
  let taskId: string;
  beforeAll(async () => {
    model = await startModelServer();
    c = await startCoordinator(scriptedClaudeEnv(model.url, { CORRAL_CONTAINMENT: "bwrap" }));
    ({ task_id: taskId } = await c.call<{ task_id: string }>("create_real_task", { description: "contained claude" }));
  });
  afterAll(async () => {
    await c?.close();
    await model?.close();
  });

  // Its cwd is its task's workspace, inside the state dir: only its own part of it is in view.
  it.each(["process", "tmux"] as const)("still reports through its MCP tools, over its relay socket (%s runner)", async (runner) => {
    const steps: Step[] = [
      tool("update_agent_progress", { status: "working", message: "inside the sandbox", progress: 50 }),
      tool("report_agent_finding", { finding_type: "note", severity: "low", message: "contained and heard" }),
      tool("update_agent_progress", { status: "completed", message: "done contained", progress: 100 }),
      { say: "bye" },
    ];
    const agent = await c.call<{ agent_id: string }>("deploy_headless_agent", {
      task_id: taskId,
      agent_type: "contained",
      prompt: `You are contained.\n\n${scriptBlock(steps)}`,
      model: "sonnet",
      runner,
    });
    await c.call("wait_for_agents", { task_id: taskId, agent_ids: [agent.agent_id], timeout_s: 60 });
    type View = { agent_id: string; status: string; progress: number | null; claimed_done: boolean; corral_connected: boolean | null; cleanup: string };
    const find = async (): Promise<View> =>
      (await c.call<{ agents: View[] }>("get_real_task_status", { task_id: taskId })).agents.find((a) => a.agent_id === agent.agent_id) as View;
    let view = await find();
    for (let i = 0; i < 100 && view.cleanup !== "done"; i += 1) {
      await sleep(50);
      view = await find();
    }
    expect(view).toMatchObject({ status: "completed", progress: 100, claimed_done: true, corral_connected: true, cleanup: "done" });
    const status = await c.call<{ findings: { agent_id: string; data: { message: string } }[] }>("get_real_task_status", { task_id: taskId });
    expect(status.findings.filter((f) => f.agent_id === agent.agent_id).map((f) => f.data.message)).toEqual(["contained and heard"]);
  });

  it("spawns a child through its relay, which runs contained too and reports through its own", async () => {
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "contained spawn" });
    const child = scriptBlock([tool("update_agent_progress", { status: "completed", message: "the child reports", progress: 100 }), { say: "child done" }]);
    const parent = await c.call<{ agent_id: string }>("deploy_headless_agent", {
      task_id,
      agent_type: "parent",
      prompt: `You are the parent.\n\n${scriptBlock([tool("spawn_child_agent", { child_agent_type: "child", child_prompt: `You are the child.\n\n${child}` }), { say: "parent done" }])}`,
      model: "sonnet",
    });
    type View = { agent_id: string; parent: string | null; status: string; progress: number | null; claimed_done: boolean; cleanup: string };
    const agents = async (): Promise<View[]> => (await c.call<{ agents: View[] }>("get_real_task_status", { task_id })).agents;
    for (let i = 0; i < 600 && (await agents()).length < 2; i += 1) await sleep(50);
    await c.call("wait_for_agents", { task_id, timeout_s: 60 });
    let all = await agents();
    for (let i = 0; i < 100 && all.some((a) => a.cleanup !== "done"); i += 1) {
      await sleep(50);
      all = await agents();
    }
    const spawned = all.find((a) => a.agent_id !== parent.agent_id);
    expect(spawned).toMatchObject({ parent: parent.agent_id, status: "completed", progress: 100, claimed_done: true, cleanup: "done" });
    expect(all.find((a) => a.agent_id === parent.agent_id)).toMatchObject({ status: "completed", cleanup: "done" });
  });
});

describe("a contained agent whose corral died", () => {
  let model: ModelServer;
  const servers: Coordinator[] = [];
  beforeAll(async () => {
    model = await startModelServer();
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    await model?.close();
  });

  it("reports through the corral that adopts it, which listens on its relay socket again", async () => {
    const env = scriptedClaudeEnv(model.url, {
      CORRAL_BACKENDS_CLAUDE_ALLOWED_TOOLS: "Bash",
      CORRAL_CONTAINMENT: "bwrap",
    });
    const first = await startCoordinator(env);
    servers.push(first);
    const cwd = mkdtempSync(join(root(), "adopted-work-"));
    const { task_id } = await first.call<{ task_id: string }>("create_real_task", { description: "adopted contained agent", client_cwd: cwd });
    const steps: Step[] = [
      tool("update_agent_progress", { status: "working", message: "before its corral died", progress: 10 }),
      // Holds the agent until the test has replaced its corral.
      { tool: "Bash", input: { command: "while [ ! -e gate ]; do sleep 0.05; done" } },
      tool("update_agent_progress", { status: "completed", message: "heard by the adopter", progress: 100 }),
      { say: "bye" },
    ];
    const agent = await first.call<{ agent_id: string }>("deploy_headless_agent", {
      task_id,
      agent_type: "adoptee",
      prompt: `You are contained.\n\n${scriptBlock(steps)}`,
      model: "sonnet",
    });
    type View = { agent_id: string; status: string; progress: number | null; latest_message: string | null; claimed_done: boolean; cleanup: string };
    const viewIn = async (server: Coordinator): Promise<View> =>
      (await server.call<{ agents: View[] }>("get_real_task_status", { task_id })).agents.find((a) => a.agent_id === agent.agent_id) as View;
    for (let i = 0; i < 600 && (await viewIn(first)).progress !== 10; i += 1) await sleep(50);
    expect((await viewIn(first)).latest_message).toBe("before its corral died");

    process.kill(first.transport.pid as number, "SIGKILL");
    const second = await startCoordinator({ ...env, CORRAL_HOME: first.home });
    servers.push(second);
    writeFileSync(join(cwd, "gate"), "");
    await second.call("wait_for_agents", { task_id, agent_ids: [agent.agent_id], timeout_s: 60 });
    let view = await viewIn(second);
    for (let i = 0; i < 100 && view.cleanup !== "done"; i += 1) {
      await sleep(50);
      view = await viewIn(second);
    }
    expect(view).toMatchObject({ status: "completed", progress: 100, claimed_done: true, cleanup: "done" });
  });
});
