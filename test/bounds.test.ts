import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_REQUEST_BYTES, MAX_WAIT_IDS, REPLY_BUDGET_BYTES } from "../src/domain/bounds.js";
import { ok, unwrap } from "../src/domain/errors.js";
import type { AgentId, TaskId } from "../src/domain/ids.js";
import { Corral } from "../src/lifecycle/corral.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { fitToBudget, jsonBytes } from "../src/mcp/reply-budget.js";
import { toolResult } from "../src/mcp/results.js";
import { requestIdOf } from "../src/mcp/stdio-transport.js";
import { isAlive } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { CORRAL_BIN, startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";
import { withStore } from "./helpers/store.js";
import { agentRow, cleanupClaim, ROOMY_LIMITS } from "./helpers/builders.js";
import type { TaskRecord } from "../src/store/records.js";

let coordinator: Coordinator | null = null;
let corral: Corral | null = null;
afterEach(async () => {
  await coordinator?.close();
  coordinator = null;
  await corral?.shutdown("test over");
  corral = null;
});

/** A second corral on the coordinator's state dir, as another process would open it. */
interface Deployed {
  agent_id: string;
  pid: number | null;
}

/** What the client received for a call, measured as it travelled. */
async function rawCall(c: Coordinator, name: string, args: Record<string, unknown>) {
  const result = await c.client.callTool({ name, arguments: args });
  return { result, bytes: jsonBytes(result) };
}

describe("one oversized message never costs the user their agents", () => {
  it("answers a request over the size limit with an error, keeps serving, and still stops when its client leaves", async () => {
    coordinator = await startCoordinator();
    const c = coordinator;
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "big request" });
    const agent = await c.call<Deployed>("deploy_headless_agent", { task_id, agent_type: "sleeper", prompt: "p", command: ["sleep", "300"] });

    const huge = "x".repeat(MAX_REQUEST_BYTES + 1024);
    const refused = await c.client.callTool({ name: "create_real_task", arguments: { description: "d", background_context: huge } }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).code).toBe(-32600);
    expect((refused as McpError).message).toMatch(/request too large: \d+ bytes, over corral's limit/);

    // Still answering, and the agent untouched.
    await c.client.ping();
    const status = await c.call<{ counts: Record<string, number> }>("get_real_task_status", { task_id });
    expect(status.counts.running).toBe(1);

    // stdin's end is still seen: the server stops and its agent with it.
    const identity = { pid: agent.pid as number, startTime: (readStat(agent.pid as number) as { startTime: string }).startTime };
    const server = c.transport.pid as number;
    await c.close();
    coordinator = null;
    for (let i = 0; i < 200 && (isAlive(identity) || readStat(server) !== null); i += 1) await sleep(25);
    expect(isAlive(identity)).toBe(false);
    expect(readStat(server)).toBeNull();
  });

  it("keeps every reply within its budget, whatever is stored, and says when it clipped", async () => {
    coordinator = await startCoordinator();
    const c = coordinator;
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "stored data" });
    const agent = await c.call<Deployed>("deploy_headless_agent", { task_id, agent_type: "sleeper", prompt: "p", command: ["sleep", "300"] });
    // Data no tool accepts any more, written as an older corral could have: the replies must
    // still fit, or every status call would cost the connection again.
    withStore(c.home, (store) =>
      store.events.append({
        taskId: task_id as TaskId,
        agentId: agent.agent_id as never,
        kind: "finding",
        at: Date.now(),
        data: { kind: "finding", findingType: "dump", severity: "low", message: "m", data: { blob: "\u0001".repeat(3 * 1024 * 1024) } },
      }),
    );
    const { result, bytes } = await rawCall(c, "get_real_task_status", { task_id });
    expect(result.isError).toBeFalsy();
    expect(bytes).toBeLessThan(2 * REPLY_BUDGET_BYTES + 64 * 1024);
    expect(result.structuredContent).toMatchObject({ truncated: true, counts: { running: 1 } });
    await c.client.ping();
    expect((await c.call<{ counts: Record<string, number> }>("get_real_task_status", { task_id })).counts.running).toBe(1);
  });

  it("refuses an oversized finding or task context before storing anything", async () => {
    corral = openCorral();
    const tooWide = { items: Array.from({ length: 10_000 }, (_, i) => `item ${i} ${"y".repeat(20)}`) };
    const task = unwrap(corral.createTask({ description: "bounds" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] }));
    const finding = await corral.report(agent.id, { kind: "finding", findingType: "t", severity: "low", message: "m", data: tooWide });
    expect(finding).toMatchObject({ ok: false, error: { code: "INVALID_INPUT", field: "data", message: expect.stringMatching(/^over 65536 bytes as JSON/) } });
    expect(corral.agent(agent.id)?.eventCount ?? 0).toBe(0);
    const before = corral.listTasks().length;
    const created = corral.createTask({ description: "d", context: { background_context: "z".repeat(600 * 1024) } });
    expect(created).toMatchObject({ ok: false, error: { code: "INVALID_INPUT", field: "context", message: expect.stringMatching(/^the task's context is over/) } });
    expect(corral.listTasks().length).toBe(before);
  });

  it("counts max_bytes of output as it is sent, so escape-heavy output stays within the budget", async () => {
    coordinator = await startCoordinator();
    const c = coordinator;
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "escapes" });
    // 2 MB of control characters: each one is six bytes once JSON-escaped.
    const agent = await c.call<Deployed>("deploy_headless_agent", {
      task_id,
      agent_type: "printer",
      prompt: "p",
      command: ["bash", "-c", "for i in $(seq 64); do head -c 32768 /dev/zero | tr '\\0' '\\1'; echo; done"],
    });
    await c.call("wait_for_agents", { task_id, agent_ids: [agent.agent_id], timeout_s: 30 });
    const { result, bytes } = await rawCall(c, "get_agent_output", { task_id, agent_id: agent.agent_id, max_bytes: 512 * 1024 });
    expect(result.isError).toBeFalsy();
    const output = result.structuredContent as { text: string; truncated: boolean; returned_lines: number };
    expect(output.truncated).toBe(true);
    expect(output.returned_lines).toBeGreaterThan(0);
    expect(jsonBytes(output.text)).toBeLessThanOrEqual(512 * 1024 + 2);
    expect(bytes).toBeLessThan(2 * REPLY_BUDGET_BYTES);
  });
});

describe("lists come in pages", () => {
  it("pages a task's agents with a cursor, while the counts cover them all", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "pages" }));
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] })).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const status = unwrap(corral.status(task.id, { limit: 2, ...(cursor === undefined ? {} : { cursor }) }));
      expect(status.counts.running).toBe(5);
      expect(status.page.total).toBe(5);
      seen.push(...status.agents.map((a) => a.agentId));
      if (status.page.next === null) break;
      cursor = status.page.next;
    }
    expect(seen).toEqual(ids);
    expect(corral.status(task.id, { cursor: "../x" })).toMatchObject({ ok: false, error: { code: "INVALID_INPUT", field: "cursor" } });
    expect(corral.status(task.id, { limit: 100_000 })).toMatchObject({ ok: false, error: { code: "INVALID_INPUT", field: "limit" } });
  });

  it("pages the tasks newest first, and refuses a task page's cursor for a task's agents", async () => {
    corral = openCorral();
    const made = [1, 2, 3].map((n) => unwrap(corral!.createTask({ description: `task ${n}` })).id);
    const first = unwrap(corral.taskPage({ limit: 2 }));
    expect(first.page).toMatchObject({ offset: 0, returned: 2, total: 3 });
    const rest = unwrap(corral.taskPage({ limit: 2, cursor: first.page.next as string }));
    expect(rest.page).toMatchObject({ offset: 2, returned: 1, next: null });
    const paged = [...first.tasks, ...rest.tasks];
    expect(paged.map((t) => t.taskId).sort()).toEqual([...made].sort());
    expect(paged.map((t) => Date.parse(t.createdAt))).toEqual(paged.map((t) => Date.parse(t.createdAt)).sort((a, b) => b - a));
    expect(corral.status(made[0] as string, { cursor: first.page.next as string })).toMatchObject({
      ok: false,
      error: { code: "INVALID_INPUT", field: "cursor", message: expect.stringMatching(/^the cursor is stale for this list: it pages tasks/) as string },
    });
  });

  it("answers the status of a task of 10,000 agents within the reply budget, its counts and totals over all of them", async () => {
    // The text a client that reads only text gets: the JSON again, so the whole reply is twice the structured content.
    coordinator = await startCoordinator({ CORRAL_MCP_TEXT: "json" });
    const c = coordinator;
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "ten thousand" });
    withStore(c.home, (store) => {
      const task = store.tasks.get(task_id as TaskId) as TaskRecord;
      for (let i = 0; i < 10_000; i += 1) {
        const id = `many-000000-${i.toString(16).padStart(6, "0")}` as AgentId;
        unwrap(store.agents.insert(agentRow(task, { pid: 1, startTime: "1" }, { id, cwd: "/", createdAt: i }), { ...ROOMY_LIMITS, maxConcurrentAgents: 20_000, maxAgentsPerTask: 20_000 }));
        store.runs.end(id, { status: i % 10 === 0 ? "failed" : "killed", reason: null, exit: null, at: i, claim: cleanupClaim("a") });
        store.cleanups.finish(id, cleanupClaim("a"), "done", i);
      }
    });
    const first = await rawCall(c, "get_real_task_status", { task_id });
    expect(first.result.isError).toBeFalsy();
    const status = first.result.structuredContent as {
      counts: Record<string, number>;
      attention: { total: number };
      page: { total: number; returned: number; next: string | null };
      truncated?: boolean;
    };
    expect(status.counts).toMatchObject({ killed: 9_000, failed: 1_000 });
    expect(status.attention).toMatchObject({ total: 1_000 });
    expect(status.page).toMatchObject({ total: 10_000, returned: 100 });
    expect(status.truncated).toBeUndefined();
    // The JSON twice (structured and text, for a client that reads text only), each within the budget.
    expect(jsonBytes(first.result.structuredContent)).toBeLessThanOrEqual(REPLY_BUDGET_BYTES);
    expect(first.bytes).toBeLessThan(2 * REPLY_BUDGET_BYTES);
    const last = await rawCall(c, "get_real_task_status", { task_id, limit: 500, cursor: status.page.next as string });
    expect(last.result.isError).toBeFalsy();
    expect(jsonBytes(last.result.structuredContent)).toBeLessThanOrEqual(REPLY_BUDGET_BYTES);
  }, 60_000);

  it("waits on a bounded number of agents and shows the ended ones first", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "wait" }));
    const tooMany = Array.from({ length: MAX_WAIT_IDS + 1 }, () => "w-000000-000000");
    expect(await corral.waitForAgents(task.id, tooMany, "all", 1000)).toMatchObject({
      ok: false,
      error: { code: "INVALID_INPUT", field: "agent_ids", message: expect.stringMatching(/^1001 ids, over the limit of 1000/) },
    });
    const sleeper = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] }));
    const quick = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["true"] }));
    const waited = unwrap(await corral.waitForAgents(task.id, undefined, "any", 30_000, () => undefined, 1));
    expect(waited).toMatchObject({ satisfied: true, total: 2, ended: 1, truncated: true });
    expect(waited.agents.map((a) => a.agentId)).toEqual([quick.id]);
    expect(sleeper.status).toBe("running");
  });
});

describe("an agent with a lifetime of its own outlives its coordinator's client", () => {
  it("is left running when the client leaves, while an agent without one is killed", async () => {
    coordinator = await startCoordinator();
    const c = coordinator;
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "lifetimes" });
    const kept = await c.call<Deployed>("deploy_headless_agent", { task_id, agent_type: "kept", prompt: "p", command: ["sleep", "300"], max_runtime_s: 600 });
    const bound = await c.call<Deployed>("deploy_headless_agent", { task_id, agent_type: "bound", prompt: "p", command: ["sleep", "300"] });
    const keptId = { pid: kept.pid as number, startTime: (readStat(kept.pid as number) as { startTime: string }).startTime };
    const boundId = { pid: bound.pid as number, startTime: (readStat(bound.pid as number) as { startTime: string }).startTime };
    const server = c.transport.pid as number;
    const home = c.home;
    await c.close();
    coordinator = null;
    for (let i = 0; i < 200 && readStat(server) !== null; i += 1) await sleep(25);
    expect(isAlive(boundId)).toBe(false);
    expect(isAlive(keptId)).toBe(true);

    // The next corral adopts it, and its deadline still holds.
    corral = unwrap(Corral.open(unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), createLogger("silent"), { watch: false }));
    expect((await corral.reconcile()).adopted).toEqual([kept.agent_id]);
    expect((await corral.reap(Date.now() + 601_000)).timedOut).toEqual([kept.agent_id]);
    const row = corral.agent(kept.agent_id as never);
    expect([row?.status, row?.cleanupStatus, row?.reason]).toEqual(["timed_out", "done", expect.stringMatching(/its max_runtime_s=600/)]);
    expect(isAlive(keptId)).toBe(false);
  });
});

describe("reply budget and request ids (pure)", () => {
  it("leaves a reply that fits as it is, and clips one that does not until it fits", () => {
    const small = { a: "b", list: [1, 2, 3] };
    expect(fitToBudget(small, 1000)).toEqual({ fits: true, value: small, clipped: false, text: JSON.stringify(small) });
    const big = { rows: Array.from({ length: 5000 }, (_, i) => ({ id: i, text: "t".repeat(500) })) };
    const fitted = fitToBudget(big, 64 * 1024);
    expect(fitted.fits).toBe(true);
    if (!fitted.fits) return;
    expect(fitted.clipped).toBe(true);
    expect(jsonBytes(fitted.value)).toBeLessThanOrEqual(64 * 1024);
    expect(fitted.text).toBe(JSON.stringify(fitted.value));
    expect(fitted.value.rows[0]).toMatchObject({ id: 0 });
    expect(fitted.value).toMatchObject({ truncated: true });
  });

  it("says how big a reply is when nothing can make it fit", () => {
    const wide = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "v".repeat(100)]));
    expect(fitToBudget(wide, 100)).toEqual({ fits: false, bytes: jsonBytes(wide) });
  });

  it("answers REPLY_TOO_LARGE, never an oversized reply, when clipping cannot make it fit", () => {
    const wide = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "v".repeat(100)]));
    const answer = toolResult(ok(wide), 100);
    expect(answer.isError).toBe(true);
    expect(answer.structuredContent).toBeUndefined();
    expect(JSON.parse((answer.content[0] as { text: string }).text)).toEqual({
      error: { code: "REPLY_TOO_LARGE", message: expect.stringMatching(/^the answer would be \d+ bytes, over the 100-byte reply budget/) as string },
    });
    expect(toolResult(ok({ a: "b".repeat(5000) }), 1000).structuredContent).toMatchObject({ truncated: true });
  });

  it("finds the id of an oversized request at either end of it", () => {
    expect(requestIdOf('{"method":"tools/call","params":{"x":"', '…","id":1}}', )).toBeUndefined();
    expect(requestIdOf('{"method":"tools/call","params":{"a":"', 'aaa"},"jsonrpc":"2.0","id":42}')).toBe(42);
    expect(requestIdOf('{"jsonrpc":"2.0","id":"req-7","method":"tools/call","params":{', 'zzz"}}')).toBe("req-7");
    expect(requestIdOf('{"method":"x","params":{"', 'nothing here')).toBeUndefined();
  });
});

describe("a transport that fails is a client that left", () => {
  it("shuts down, killing its agents, when its replies can no longer be written", async () => {
    const home = mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "epipe-"));
    const server = spawn(process.execPath, [CORRAL_BIN, "serve"], {
      env: { ...process.env, CORRAL_HOME: home, CORRAL_LOG_LEVEL: "silent" },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)));
    const replies = createInterface({ input: server.stdout });
    const answers = new Map<number, Record<string, unknown>>();
    replies.on("line", (line) => {
      const message = JSON.parse(line) as { id?: number };
      if (typeof message.id === "number") answers.set(message.id, message as Record<string, unknown>);
    });
    const send = (message: object) => server.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
    const answer = async (id: number) => {
      for (let i = 0; i < 400 && !answers.has(id); i += 1) await sleep(10);
      return answers.get(id) as { result: { structuredContent: Record<string, unknown> } };
    };
    send({ id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
    await answer(1);
    send({ method: "notifications/initialized" });
    send({ id: 2, method: "tools/call", params: { name: "create_real_task", arguments: { description: "epipe" } } });
    const taskId = (await answer(2)).result.structuredContent.task_id as string;
    send({ id: 3, method: "tools/call", params: { name: "deploy_headless_agent", arguments: { task_id: taskId, agent_type: "w", prompt: "p", command: ["sleep", "300"] } } });
    const pid = (await answer(3)).result.structuredContent.pid as number;
    const agent = { pid, startTime: (readStat(pid) as { startTime: string }).startTime };

    // The client stops reading for good, but keeps stdin open: only a failed write can tell.
    replies.close();
    server.stdout.destroy();
    send({ id: 4, method: "ping" });
    expect(await exited).toBe(0);
    expect(isAlive(agent)).toBe(false);
    server.stdin.end();
  });
});
