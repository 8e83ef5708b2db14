import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { scriptBlock, startModelServer, type ModelServer, type Step } from "../src/demo/model-server/index.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId, TaskId } from "../src/domain/ids.js";
import type { AgentRecord } from "../src/store/records.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { serveOwnAgents } from "../src/mcp/agent-serving.js";
import { scriptedClaudeEnv } from "./helpers/claude-env.js";
import { startCoordinator } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";
import { withStore } from "./helpers/store.js";
import { until } from "./helpers/until.js";

const HTTP_AGENT = join(import.meta.dirname, "..", "dist", "test", "fixtures", "workers", "http-agent.js");

let corral: Corral | null = null;
afterEach(async () => {
  await corral?.shutdown("test over");
  corral = null;
});

/** A corral that serves its agents' tools, as `corral serve` and `corral run` do. */
function servingCorral(): Corral {
  const opened = openCorral();
  serveOwnAgents(opened, "test", createLogger("silent"));
  return opened;
}

/** A command agent running the http-agent worker; its report lands in `reportFile`. */
async function httpAgent(c: Corral, taskId: string, reportFile: string, tokenFrom = "own", message = "hello over http"): Promise<AgentRecord> {
  return unwrap(await c.deploy({ taskId, agentType: "caller", prompt: "call", command: [process.execPath, HTTP_AGENT, reportFile, message, tokenFrom, "exit"] }));
}

async function reportOf(file: string): Promise<{ called: boolean; result?: { isError?: boolean; content: { text: string }[] }; error?: string; status?: number }> {
  await until(`the report in ${file}`, () => existsSync(file));
  return JSON.parse(readFileSync(file, "utf8")) as never;
}

/** A raw POST to the agents' endpoint, as anything on this machine could send. */
function post(url: string, headers: Record<string, string>, body: string): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers }, body });
}

const INITIALIZE = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });

describe("agents call their tools over their corral's loopback endpoint", () => {
  it("an agent's call over HTTP is recorded as its own, at the URL on its record", async () => {
    corral = servingCorral();
    const task = unwrap(corral.createTask({ description: "http" }));
    const file = join(corral.config.home, "report.json");
    const agent = await httpAgent(corral, task.id, file);
    const report = await reportOf(file);
    expect(report.called).toBe(true);
    expect(report.result?.isError).toBeUndefined();
    expect(agent.toolsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const events = withStore(corral.config.home, (store) => store.events.forAgent(agent.id)).filter((e) => e.kind === "progress");
    expect(events.map((e) => e.data.message)).toEqual(["hello over http"]);
  });

  it("a token is refused on a connection from another agent's processes, and from outside every agent", async () => {
    corral = servingCorral();
    const task = unwrap(corral.createTask({ description: "stolen token" }));
    const victim = unwrap(await corral.deploy({ taskId: task.id, agentType: "victim", prompt: "idle", command: ["sleep", "60"] }));
    const victimPid = String(victim.process?.pid);
    const file = join(corral.config.home, "thief.json");
    const thief = await httpAgent(corral, task.id, file, victimPid);
    const report = await reportOf(file);
    expect(report.called).toBe(false);
    expect(report.error).toContain(`AUTH_REFUSED: this connection does not come from inside agent ${victim.id}'s processes`);
    expect(thief.status).toBe("running");

    const token = readFileSync(`/proc/${victimPid}/environ`, "latin1").split("\0").find((e) => e.startsWith("CORRAL_AGENT_TOKEN="))?.split("=")[1] ?? "";
    const outside = await post(victim.toolsUrl ?? "", { Authorization: `Bearer ${token}` }, INITIALIZE);
    expect(outside.status).toBe(403);
    expect(await outside.text()).toContain(`this connection does not come from inside agent ${victim.id}'s processes`);
    const events = withStore(corral.config.home, (store) => store.events.forTask(task.id)).filter((e) => e.kind !== "stream");
    expect(events).toEqual([]);
  });

  it("refuses a missing token, a web page, a rebound Host, a GET, an unknown path and an outsider's body past the bound unread", async () => {
    corral = servingCorral();
    const task = unwrap(corral.createTask({ description: "hygiene" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "idle", prompt: "idle", command: ["sleep", "60"] }));
    const url = agent.toolsUrl ?? "";
    const token = "not-a-token";
    const noToken = await post(url, {}, INITIALIZE);
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await post(url, { Authorization: `Bearer ${token}`, Origin: "http://evil.example" }, INITIALIZE)).status).toBe(403);
    expect((await post(url, { Authorization: `Bearer ${token}`, Host: "evil.example" }, INITIALIZE)).status).toBe(403);
    expect((await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(405);
    expect((await post(url.replace("/mcp", "/other"), { Authorization: `Bearer ${token}` }, INITIALIZE)).status).toBe(404);
    // Whoever is not the agent is refused before a byte of the body is taken.
    const huge = await post(url, { Authorization: `Bearer ${token}` }, `{"jsonrpc":"2.0","id":1,"method":"x","params":{"pad":"${"x".repeat(5 * 1024 * 1024)}"}}`);
    expect(huge.status).toBe(403);
    const unknown = await post(url, { Authorization: `Bearer ${token}` }, INITIALIZE);
    expect(unknown.status).toBe(403);
    expect(await unknown.text()).toContain("the bearer token matches no agent in this state dir");
  });

  it("refuses an agent's own body past the bound, and serves the next call", async () => {
    corral = servingCorral();
    const task = unwrap(corral.createTask({ description: "bound" }));
    const huge = join(corral.config.home, "huge.json");
    await httpAgent(corral, task.id, huge, "own", "--huge-body");
    expect((await reportOf(huge)).status).toBe(413);
    const after = join(corral.config.home, "after.json");
    await httpAgent(corral, task.id, after);
    expect((await reportOf(after)).called).toBe(true);
  });
});

describe("an HTTP agent whose corral exits while it runs", () => {
  let model: ModelServer;
  beforeAll(async () => {
    model = await startModelServer();
  });
  afterAll(async () => {
    await model.close();
  });

  const progress = (message: string): Step => ({ tool: "mcp__corral__update_agent_progress", input: { status: "working", message, progress: 10 } });
  const awaitFile = (path: string): Step => ({ tool: "Bash", input: { command: `for i in $(seq 600); do [ -e ${path} ] && break; sleep 0.1; done`, description: "wait" } });

  it("is told its tools are unreachable while no corral serves it, and is served again on the same URL by the corral that adopts it", async () => {
    const env = scriptedClaudeEnv(model.url, { CORRAL_BACKENDS_CLAUDE_ALLOWED_TOOLS: "Bash", CORRAL_ON_SHUTDOWN: "detach" });
    const first = await startCoordinator(env);
    const home = first.home;
    const firstPid = first.transport.pid;
    const gone = join(home, "first-corral-gone");
    const back = join(home, "adopted");
    const { task_id } = await first.call<{ task_id: string }>("create_real_task", { description: "owner exits" });
    const prompt = `Report through the owner's exit.\n\n${scriptBlock([
      progress("before the exit"),
      awaitFile(gone),
      progress("while no corral serves"),
      awaitFile(back),
      progress("after the adoption"),
      { say: "done" },
    ])}`;
    const { agent_id } = await first.call<{ agent_id: string }>("deploy_headless_agent", { task_id, agent_type: "survivor", backend: "claude", prompt });
    const messages = (): unknown[] =>
      withStore(home, (store) => store.events.forTask(task_id as TaskId)).filter((e) => e.kind === "progress").map((e) => e.data.message);
    await until("the first report", () => messages().includes("before the exit"), 30_000);
    const url = withStore(home, (store) => store.agents.get(agent_id as AgentId)?.toolsUrl) ?? "";

    await first.close();
    writeFileSync(gone, "");
    const toolResults = (): string => JSON.stringify(model.requests.map((r) => r.body));
    await until("the agent's call with no corral to answer it", () => toolResults().includes("Unable to connect"), 30_000);

    const second = await startCoordinator({ ...env, CORRAL_HOME: home, CORRAL_ON_SHUTDOWN: "terminate" });
    try {
      await until("the adopting corral listening on the agent's URL", () => withStore(home, (store) => store.agents.get(agent_id as AgentId)?.owner.pid !== firstPid), 10_000);
      expect((await post(url, {}, INITIALIZE)).status).toBe(401);
      writeFileSync(back, "");
      await second.call("wait_for_agents", { task_id, agent_ids: [agent_id], timeout_s: 60 });
      expect(messages()).toEqual(["before the exit", "after the adoption"]);
      const status = await second.call<{ agents: { agent_id: string; status: string }[] }>("get_real_task_status", { task_id });
      expect(status.agents.find((a) => a.agent_id === agent_id)?.status).toBe("completed");
    } finally {
      // An adopted agent is handed back, never killed, when its adopter closes.
      const live = withStore(home, (store) => store.agents.get(agent_id as AgentId)?.status) === "running";
      if (live) await second.call("kill_real_agent", { task_id, agent_id, reason: "test over" });
      await second.close();
    }
  });
});
