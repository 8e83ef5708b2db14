import { execFile } from "node:child_process";
import { chmodSync, existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_HTTP_SESSIONS, MAX_OUTPUT_BYTES, MAX_REQUEST_BYTES, REPLY_BUDGET_BYTES } from "../src/domain/bounds.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { sameToken } from "../src/mcp/http/bearer.js";
import { hostAllowed, originAllowed } from "../src/mcp/http/loopback.js";
import { isAlive } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { freshHome, httpClient, initializeBody, mcpHeaders, rawRequest, refusedStart, startHttpCorral, type HttpCorral } from "./helpers/http-serve.js";
import { CORRAL_BIN, startCoordinator } from "./helpers/mcp-client.js";

const run = promisify(execFile);

const started: HttpCorral[] = [];
const clients: Client[] = [];
const corrals: Corral[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const server of started.splice(0)) await server.stop();
  for (const corral of corrals.splice(0)) await corral.shutdown("test over");
});

async function serve(options: Parameters<typeof startHttpCorral>[0] = {}): Promise<HttpCorral> {
  const server = await startHttpCorral(options);
  started.push(server);
  return server;
}

async function connect(server: HttpCorral): Promise<Client> {
  const client = await httpClient(server.url, server.fileToken());
  clients.push(client);
  return client;
}

const initialize = (server: HttpCorral, headers: Record<string, string> = {}, token: string | null = server.fileToken()) =>
  rawRequest(server.url, { headers: mcpHeaders(token, headers), body: initializeBody });

describe("which Host and Origin name a loopback server (pure)", () => {
  it("takes the loopback names with the listener's port, and nothing else", () => {
    for (const host of ["127.0.0.1:4000", "localhost:4000", "[::1]:4000", "LOCALHOST:4000"]) expect(hostAllowed(host, "127.0.0.1", 4000)).toBe(true);
    for (const host of ["127.0.0.1:4001", "127.0.0.1", "evil.example.com:4000", "localhost.evil.com:4000", "user@localhost:4000", "localhost:4000/x", ""]) {
      expect(hostAllowed(host, "127.0.0.1", 4000)).toBe(false);
    }
    expect(hostAllowed(undefined, "127.0.0.1", 4000)).toBe(false);
  });

  it("takes an Origin on this machine, any port, and refuses other sites and opaque origins", () => {
    for (const origin of ["http://localhost:5173", "http://127.0.0.1", "https://[::1]:8443"]) expect(originAllowed(origin)).toBe(true);
    for (const origin of ["http://evil.example.com", "null", "file://", "http://localhost.evil.com", "chrome-extension://abc"]) expect(originAllowed(origin)).toBe(false);
  });

  it("compares tokens whatever their lengths", () => {
    expect(sameToken("a".repeat(43), "a".repeat(43))).toBe(true);
    expect(sameToken("a".repeat(42), "a".repeat(43))).toBe(false);
    expect(sameToken("", "a".repeat(43))).toBe(false);
  });
});

describe("corral serve --http authenticates with a bearer token", () => {
  it("refuses a request without a token, or with another one, with 401 and WWW-Authenticate: Bearer; takes the right one", async () => {
    const server = await serve();
    const none = await initialize(server, {}, null);
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer\b/);
    expect(JSON.parse(none.body)).toMatchObject({ jsonrpc: "2.0", id: null, error: { message: expect.stringContaining("Authorization: Bearer") } });
    const wrong = await initialize(server, {}, `${server.fileToken().slice(0, -1)}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers["www-authenticate"]).toMatch(/^Bearer\b/);
    const basic = await initialize(server, { Authorization: `Basic ${server.fileToken()}` }, null);
    expect(basic.status).toBe(401);
    const right = await initialize(server);
    expect(right.status).toBe(200);
    expect(right.headers["mcp-session-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("makes the token file 0600 once, in a state dir it made, and keeps its token on later starts", async () => {
    const home = join(freshHome(), "not", "there", "yet");
    const first = await serve({ home });
    const token = first.fileToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(home, "http-token")).mode & 0o777).toBe(0o600);
    await first.stop();
    const second = await serve({ home });
    expect(second.fileToken()).toBe(token);
    expect((await initialize(second, {}, token)).status).toBe(200);
  });

  it("takes CORRAL_HTTP_TOKEN instead of the file, and makes no file", async () => {
    const token = "t".repeat(40);
    const server = await serve({ env: { CORRAL_HTTP_TOKEN: token } });
    expect(existsSync(join(server.home, "http-token"))).toBe(false);
    expect((await initialize(server, {}, token)).status).toBe(200);
  });

  it("never passes CORRAL_HTTP_TOKEN on to an agent", async () => {
    const token = "s".repeat(40);
    const server = await serve({ env: { CORRAL_HTTP_TOKEN: token } });
    const client = await httpClient(server.url, token);
    clients.push(client);
    const task = (await client.callTool({ name: "create_real_task", arguments: { description: "env" } })) as CallToolResult;
    const taskId = (task.structuredContent as { task_id: string }).task_id;
    const deployed = (await client.callTool({
      name: "deploy_headless_agent",
      arguments: { task_id: taskId, agent_type: "env", prompt: "p", command: ["sh", "-c", 'echo "token:${CORRAL_HTTP_TOKEN:-none}"'] },
    })) as CallToolResult;
    const agentId = (deployed.structuredContent as { agent_id: string }).agent_id;
    await client.callTool({ name: "wait_for_agents", arguments: { task_id: taskId, timeout_s: 30 } });
    const output = JSON.stringify(((await client.callTool({ name: "get_agent_output", arguments: { task_id: taskId, agent_id: agentId } })) as CallToolResult).structuredContent);
    expect(output).toContain("token:none");
    expect(output).not.toContain(token);
  });

  it("refuses to start with a token file others can read, or a short CORRAL_HTTP_TOKEN, saying what to do", async () => {
    const home = freshHome();
    writeFileSync(join(home, "http-token"), `${"k".repeat(43)}\n`);
    chmodSync(join(home, "http-token"), 0o644);
    const readable = await refusedStart({ home });
    expect(readable.code).toBe(2);
    expect(readable.stderr).toMatch(/http-token can be read by others \(mode 644\).*chmod 600/);
    expect(readable.stdout).toBe("");
    const { stdout: doctor } = await run(process.execPath, [CORRAL_BIN, "doctor"], { env: { ...process.env, CORRAL_HOME: home } }).catch((error: { stdout: string }) => error);
    expect(doctor).toMatch(/http token: .*http-token can be read by others/);
    const short = await refusedStart({ env: { CORRAL_HTTP_TOKEN: "short" } });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("CORRAL_HTTP_TOKEN must hold at least 32 printable characters");
  });
});

describe("corral serve --http listens on loopback, against DNS rebinding", () => {
  it("refuses a Host that does not name it (403), before asking for a token", async () => {
    const server = await serve();
    for (const host of [`evil.example.com:${server.port}`, `127.0.0.1:${server.port + 1}`]) {
      const rebound = await initialize(server, { Host: host });
      expect(rebound.status).toBe(403);
      expect(JSON.parse(rebound.body).error.message).toContain("does not name this server");
    }
    expect((await initialize(server, { Host: `evil.example.com:${server.port}` }, null)).status).toBe(403);
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`]) expect((await initialize(server, { Host: host })).status).toBe(200);
  });

  it("refuses a request from a foreign Origin (403), and takes a loopback Origin or none", async () => {
    const server = await serve();
    const foreign = await initialize(server, { Origin: "http://evil.example.com" });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body).error.message).toContain("origin");
    expect((await initialize(server, { Origin: "http://localhost:5173" })).status).toBe(200);
    expect((await initialize(server)).status).toBe(200);
  });

  it("refuses to listen on another address without --allow-remote, and with it needs CORRAL_HTTP_TOKEN", async () => {
    const remote = await refusedStart({ args: ["--host", "192.0.2.1"] });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain("not a loopback address");
    expect(remote.stderr).toContain("--allow-remote");
    const fileToken = await refusedStart({ args: ["--host", "192.0.2.1", "--allow-remote"] });
    expect(fileToken.code).toBe(2);
    expect(fileToken.stderr).toContain("CORRAL_HTTP_TOKEN");
    const everywhere = await refusedStart({ args: ["--host", "0.0.0.0", "--allow-remote"], env: { CORRAL_HTTP_TOKEN: "t".repeat(40) } });
    expect(everywhere.code).toBe(2);
    expect(everywhere.stderr).toContain("listens everywhere");
  });
});

describe("corral serve --http bounds what it takes", () => {
  it("answers a body over the per-message bound with 413 and a JSON-RPC error, and goes on serving", async () => {
    const server = await serve();
    const client = await connect(server);
    const huge = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list", params: { pad: "x".repeat(MAX_REQUEST_BYTES) } });
    const refused = await rawRequest(server.url, { headers: mcpHeaders(server.fileToken()), body: huge });
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body)).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32600, message: expect.stringContaining(`limit of ${MAX_REQUEST_BYTES} bytes`) } });
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it("answers a body that is not JSON with a parse error (400)", async () => {
    const server = await serve();
    const garbled = await rawRequest(server.url, { headers: mcpHeaders(server.fileToken()), body: "{not json" });
    expect(garbled.status).toBe(400);
    expect(JSON.parse(garbled.body).error.code).toBe(-32700);
  });

  it("answers a request without a session, or with an ended one, with 400 and 404", async () => {
    const server = await serve();
    const list = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    expect((await rawRequest(server.url, { headers: mcpHeaders(server.fileToken()), body: list })).status).toBe(400);
    const unknown = await rawRequest(server.url, { headers: mcpHeaders(server.fileToken(), { "Mcp-Session-Id": "00000000-0000-0000-0000-000000000000" }), body: list });
    expect(unknown.status).toBe(404);
  });
});

describe("corral serve --http serves the coordinator's tools", () => {
  it("publishes the same tools as corral serve on stdio, and a real MCP client calls them", async () => {
    const server = await serve();
    const client = await connect(server);
    const overHttp = (await client.listTools()).tools;
    const stdio = await startCoordinator();
    try {
      expect(overHttp).toEqual((await stdio.client.listTools()).tools);
    } finally {
      await stdio.close();
    }
    const created = (await client.callTool({ name: "create_real_task", arguments: { description: "over http" } })) as CallToolResult;
    expect(created.isError).toBeUndefined();
    const taskId = (created.structuredContent as { task_id: string }).task_id;
    const status = (await client.callTool({ name: "get_real_task_status", arguments: { task_id: taskId } })) as CallToolResult;
    expect(status.structuredContent).toMatchObject({ task: { task_id: taskId, description: "over http" } });
    const refused = (await client.callTool({ name: "get_real_task_status", arguments: { task_id: "nope" } })) as CallToolResult;
    expect(refused.isError).toBe(true);
  });
});

describe("corral serve --http answers within the reply budget", () => {
  it("sends the largest output read a call may ask for whole, within the budget", async () => {
    const server = await serve();
    const client = await connect(server);
    const task = (await client.callTool({ name: "create_real_task", arguments: { description: "big output" } })) as CallToolResult;
    const taskId = (task.structuredContent as { task_id: string }).task_id;
    const deployed = (await client.callTool({
      name: "deploy_headless_agent",
      arguments: { task_id: taskId, agent_type: "loud", prompt: "p", command: ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x | fold -w 99"] },
    })) as CallToolResult;
    const agentId = (deployed.structuredContent as { agent_id: string }).agent_id;
    await client.callTool({ name: "wait_for_agents", arguments: { task_id: taskId, timeout_s: 30 } });
    const read = (await client.callTool({ name: "get_agent_output", arguments: { task_id: taskId, agent_id: agentId, max_bytes: MAX_OUTPUT_BYTES } })) as CallToolResult;
    const bytes = Buffer.byteLength(JSON.stringify(read.structuredContent));
    expect(bytes).toBeGreaterThan(MAX_OUTPUT_BYTES * 0.9);
    expect(bytes).toBeLessThanOrEqual(REPLY_BUDGET_BYTES);
  });
});

describe("corral serve --http streams a call's progress", () => {
  it("sends wait_for_agents' progress notifications on the call's stream before its answer", async () => {
    const server = await serve();
    const client = await connect(server);
    const task = (await client.callTool({ name: "create_real_task", arguments: { description: "progress" } })) as CallToolResult;
    const taskId = (task.structuredContent as { task_id: string }).task_id;
    for (const seconds of ["0.2", "0.8"]) {
      await client.callTool({ name: "deploy_headless_agent", arguments: { task_id: taskId, agent_type: "sleeper", prompt: "p", command: ["sleep", seconds] } });
    }
    const progress: number[] = [];
    const waited = (await client.callTool({ name: "wait_for_agents", arguments: { task_id: taskId, timeout_s: 30 } }, undefined, {
      onprogress: (update) => progress.push(update.progress),
    })) as CallToolResult;
    expect(waited.isError).toBeUndefined();
    expect(progress).toContain(2);
    expect(waited.structuredContent).toMatchObject({ satisfied: true, total: 2 });
  });
});

describe("corral serve --http shuts down on a signal", () => {
  async function deploySleeper(server: HttpCorral): Promise<{ id: AgentId; pid: number; startTime: string }> {
    const client = await connect(server);
    const task = (await client.callTool({ name: "create_real_task", arguments: { description: "shutdown" } })) as CallToolResult;
    const taskId = (task.structuredContent as { task_id: string }).task_id;
    const deployed = (await client.callTool({
      name: "deploy_headless_agent",
      arguments: { task_id: taskId, agent_type: "sleeper", prompt: "p", command: ["sleep", "300"] },
    })) as CallToolResult;
    const { agent_id, pid } = deployed.structuredContent as { agent_id: string; pid: number };
    return { id: agent_id as AgentId, pid, startTime: readStat(pid)!.startTime };
  }

  const reopen = (home: string): Corral => {
    const corral = unwrap(Corral.open({ ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), graceMs: 200 }, createLogger("silent"), { watch: false }));
    corrals.push(corral);
    return corral;
  };

  it("on SIGTERM kills its agents and exits 143", async () => {
    const server = await serve();
    const agent = await deploySleeper(server);
    expect(await server.stop()).toBe(143);
    expect(isAlive(agent)).toBe(false);
    const row = reopen(server.home).agent(agent.id)!;
    expect([row.status, row.cleanupStatus, row.reason]).toEqual(["killed", "done", "corral stopped: SIGTERM"]);
  });

  it("with onShutdown=detach leaves its agents for the next corral, and exits 130 on SIGINT", async () => {
    const server = await serve({ env: { CORRAL_ON_SHUTDOWN: "detach" } });
    const agent = await deploySleeper(server);
    server.child.kill("SIGINT");
    expect(await server.exited).toBe(130);
    expect(isAlive(agent)).toBe(true);
    const next = reopen(server.home);
    expect((await next.reconcile()).adopted).toHaveLength(1);
    unwrap(await next.kill(agent.id, "test over"));
    expect(isAlive(agent)).toBe(false);
  });
});

describe("corral serve --http bounds its sessions", () => {
  it("makes room for a new session by ending the one called least recently, which then answers 404", async () => {
    const server = await serve();
    const sessions: string[] = [];
    for (let i = 0; i <= MAX_HTTP_SESSIONS; i += 1) {
      const opened = await initialize(server);
      expect(opened.status).toBe(200);
      sessions.push(opened.headers["mcp-session-id"] as string);
    }
    const ping = (session: string) =>
      rawRequest(server.url, {
        headers: mcpHeaders(server.fileToken(), { "Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18" }),
        body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping" }),
      });
    expect((await ping(sessions[0]!)).status).toBe(404);
    expect((await ping(sessions[1]!)).status).toBe(200);
    expect((await ping(sessions[MAX_HTTP_SESSIONS]!)).status).toBe(200);
  });
});
