import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { fail, ok, unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { bearerToken, sameToken } from "../src/mcp/http/bearer.js";
import { coordinatorRoute } from "../src/mcp/http/coordinator-route.js";
import { defineRoute, listen, type Listener } from "../src/mcp/http/listener.js";
import { createCoordinatorServer } from "../src/mcp/servers.js";
import { initializeBody, mcpHeaders, rawRequest } from "./helpers/http-serve.js";
import { openCorral } from "./helpers/sandbox.js";

const logger = createLogger("silent");
const COORDINATOR_TOKEN = "c".repeat(43);
const listeners: Listener[] = [];
const corrals: Corral[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
  for (const corral of corrals.splice(0)) await corral.shutdown("test over");
});

/** A second route with callers of its own, as an agents' route would have: a token per agent. */
const agentTokens = new Map([
  ["a".repeat(43), "agent-1"],
  ["e".repeat(43), "ended"],
]);
const whoAmI = defineRoute<string>({
  path: "/whoami",
  authenticate(request) {
    const token = bearerToken(request);
    for (const [known, agent] of agentTokens) {
      if (token !== null && sameToken(token, known)) return agent === "ended" ? fail("UNKNOWN_AGENT", "forbidden: this agent has ended") : ok(agent);
    }
    return fail("AUTH_REFUSED", "unauthorized: not an agent's token");
  },
  refusalStatus: (error) => (error.code === "AUTH_REFUSED" ? 401 : 403),
  async handle({ response, body }, agent) {
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify({ agent, bytes: body?.length ?? null }));
  },
  close: async () => undefined,
});

async function serveBoth(idleMs = 60_000): Promise<Listener> {
  const corral = openCorral();
  corrals.push(corral);
  const coordinator = coordinatorRoute({
    path: "/mcp",
    token: COORDINATOR_TOKEN,
    createServer: () => createCoordinatorServer(corral, "test"),
    maxSessions: 4,
    idleMs,
    logger,
  });
  const listener = unwrap(await listen({ host: "127.0.0.1", port: 0, routes: [coordinator, whoAmI], maxBodyBytes: 1024, maxInFlight: 8, logger }));
  listeners.push(listener);
  return listener;
}

describe("the HTTP listener", () => {
  it("routes by path, each route authenticating its own callers: one route's token opens no other", async () => {
    const listener = await serveBoth();
    const agentCall = await rawRequest(`${listener.origin}/whoami`, { headers: { Authorization: `Bearer ${"a".repeat(43)}` }, body: "{}" });
    expect([agentCall.status, JSON.parse(agentCall.body)]).toEqual([200, { agent: "agent-1", bytes: 2 }]);
    const coordinatorsToken = await rawRequest(`${listener.origin}/whoami`, { headers: { Authorization: `Bearer ${COORDINATOR_TOKEN}` }, body: "{}" });
    expect([coordinatorsToken.status, coordinatorsToken.headers["www-authenticate"]]).toEqual([401, 'Bearer realm="corral"']);
    const ended = await rawRequest(`${listener.origin}/whoami`, { headers: { Authorization: `Bearer ${"e".repeat(43)}` }, body: "{}" });
    expect([ended.status, ended.headers["www-authenticate"], JSON.parse(ended.body).error.message]).toEqual([403, undefined, "forbidden: this agent has ended"]);
    expect((await rawRequest(`${listener.origin}/mcp`, { headers: mcpHeaders("a".repeat(43)), body: initializeBody })).status).toBe(401);
    expect((await rawRequest(`${listener.origin}/mcp`, { headers: mcpHeaders(COORDINATOR_TOKEN), body: initializeBody })).status).toBe(200);
    const elsewhere = await rawRequest(`${listener.origin}/other`, { headers: mcpHeaders(COORDINATOR_TOKEN), body: "{}" });
    expect(elsewhere.status).toBe(404);
    expect(JSON.parse(elsewhere.body).error.message).toContain("/mcp, /whoami");
  });

  it("bounds every route's bodies alike", async () => {
    const listener = await serveBoth();
    const big = await rawRequest(`${listener.origin}/whoami`, { headers: { Authorization: `Bearer ${"a".repeat(43)}` }, body: "x".repeat(1025) });
    expect(big.status).toBe(413);
    const fits = await rawRequest(`${listener.origin}/whoami`, { headers: { Authorization: `Bearer ${"a".repeat(43)}` }, body: "x".repeat(1024) });
    expect(JSON.parse(fits.body)).toEqual({ agent: "agent-1", bytes: 1024 });
  });

  it("ends a coordinator session left idle, which then answers 404", async () => {
    const listener = await serveBoth(200);
    const opened = await rawRequest(`${listener.origin}/mcp`, { headers: mcpHeaders(COORDINATOR_TOKEN), body: initializeBody });
    const session = opened.headers["mcp-session-id"] as string;
    const ping = () =>
      rawRequest(`${listener.origin}/mcp`, {
        headers: mcpHeaders(COORDINATOR_TOKEN, { "Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18" }),
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }),
      });
    expect((await ping()).status).toBe(200);
    // The sweep runs once a second at the most often.
    await sleep(2_500);
    expect((await ping()).status).toBe(404);
  });

  it("refuses to listen on a port in use, naming the flag", async () => {
    const first = await serveBoth();
    const second = await listen({ host: "127.0.0.1", port: first.port, routes: [], maxBodyBytes: 1024, maxInFlight: 8, logger });
    expect(second.ok).toBe(false);
    if (!second.ok) expect([second.error.field, second.error.message]).toEqual(["port", expect.stringContaining("EADDRINUSE")]);
  });
});
