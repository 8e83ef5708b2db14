import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentRecord } from "../src/store/records.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { serveOwnAgents } from "../src/mcp/agent-serving.js";
import { openCorral } from "./helpers/sandbox.js";
import { withStore } from "./helpers/store.js";
import { until } from "./helpers/until.js";

const HTTP_AGENT = join(import.meta.dirname, "..", "dist", "test", "fixtures", "workers", "http-agent.js");

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

/** A corral that serves its agents' tools, as `corral serve` and `corral run` do. */
function servingCorral(): Corral {
  const opened = openCorral();
  serveOwnAgents(opened, "test", createLogger("silent"));
  return opened;
}

/** A command agent running the http-agent worker; its report lands in `reportFile`. */
async function httpAgent(c: Corral, taskId: string, reportFile: string, tokenFrom = "own", after = "exit"): Promise<AgentRecord> {
  return unwrap(await c.deploy({ taskId, agentType: "caller", prompt: "call", command: [process.execPath, HTTP_AGENT, reportFile, "hello over http", tokenFrom, after] }));
}

async function reportOf(file: string): Promise<{ called: boolean; result?: { isError?: boolean; content: { text: string }[] }; error?: string }> {
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

  it("refuses a missing token, a web page, a rebound Host, a GET and a body past the bound, and serves on", async () => {
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
    const huge = await post(url, { Authorization: `Bearer ${token}` }, `{"jsonrpc":"2.0","id":1,"method":"x","params":{"pad":"${"x".repeat(5 * 1024 * 1024)}"}}`);
    expect(huge.status).toBe(413);
    const unknown = await post(url, { Authorization: `Bearer ${token}` }, INITIALIZE);
    expect(unknown.status).toBe(403);
    expect(await unknown.text()).toContain("the bearer token matches no agent in this state dir");
  });
});
