import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MAX_CURSOR_CHARS } from "../src/domain/bounds.js";
import { isAlive } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";

let coordinator: Coordinator | null = null;
afterEach(async () => {
  await coordinator?.close();
  coordinator = null;
});

interface Deployed {
  agent_id: string;
  pid: number | null;
  status: string;
}
interface Status {
  counts: Record<string, number>;
  agents: { agent_id: string; status: string; cleanup: string; parent: string | null; depth: number }[];
  hierarchy: { agent_id: string; children: unknown[] }[];
  limits: { concurrent_agents: { limit: number; used: number } };
}

describe("corral serve, driven by an MCP client over stdio", () => {
  it("lists every coordinator tool with honest annotations and output schemas", async () => {
    coordinator = await startCoordinator();
    const { tools } = await coordinator.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(
      [
        "create_real_task",
        "deploy_headless_agent",
        "get_agent_output",
        "get_real_task_status",
        "kill_real_agent",
        "list_real_tasks",
        "spawn_child_agent",
        "wait_for_agents",
      ].sort(),
    );
    for (const tool of tools) {
      expect(tool.title, tool.name).toBeTruthy();
      expect(tool.description?.length ?? 0, tool.name).toBeGreaterThan(40);
      expect(tool.outputSchema, tool.name).toBeDefined();
    }
    // What a deploy answers is declared: a client can rely on the runner and how to watch it.
    const deploy = byName.get("deploy_headless_agent");
    expect(Object.keys(deploy?.inputSchema.properties ?? {})).toContain("runner");
    expect(Object.keys(deploy?.outputSchema?.properties ?? {})).toEqual(expect.arrayContaining(["agent_id", "pid", "runner", "watch"]));
    expect(byName.get("get_real_task_status")?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName.get("kill_real_agent")?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });
  });

  it("creates a task, deploys, waits, reads output live and archived, kills, and cleans everything", async () => {
    coordinator = await startCoordinator();
    const c = coordinator;
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", {
      description: "e2e",
      success_criteria: ["all agents finish"],
    });
    const quick = await Promise.all(
      [1, 2, 3].map((n) =>
        c.call<Deployed>("deploy_headless_agent", {
          task_id,
          agent_type: "worker",
          prompt: `job ${n}`,
          backend: "command",
          // Long enough to be still running when the wait starts, on a loaded machine too.
          command: ["bash", "-c", `echo "worker ${n} got: $(cat)"; sleep 1`],
        }),
      ),
    );
    const sleeper = await c.call<Deployed>("deploy_headless_agent", {
      task_id,
      agent_type: "sleeper",
      prompt: "wait",
      backend: "command",
      command: ["bash", "-c", "echo sleeping; exec sleep 300"],
    });
    expect(sleeper.status).toBe("running");
    await sleep(100);
    const live = await c.call<{ source: string; text: string }>("get_agent_output", { task_id, agent_id: sleeper.agent_id });
    expect([live.source, live.text]).toEqual(["live", "sleeping\n"]);

    const notes: { progress: number; total?: number }[] = [];
    const waitedRaw = await c.client.callTool(
      { name: "wait_for_agents", arguments: { task_id, agent_ids: quick.map((q) => q.agent_id), mode: "all", timeout_s: 30 } },
      undefined,
      { onprogress: (note) => notes.push(note) },
    );
    const waited = waitedRaw.structuredContent as { satisfied: boolean; agents: { status: string }[] };
    expect(waited.satisfied).toBe(true);
    // Progress notifications came while it waited, counting ended agents out of three. (The
    // SDK's client may drop the last one: it dispatches notifications a tick after responses.)
    expect(notes.length).toBeGreaterThan(0);
    expect(notes.every((n) => n.total === 3)).toBe(true);
    expect(notes.map((n) => n.progress)).toEqual([...notes.map((n) => n.progress)].sort());
    expect(waited.agents.map((a) => a.status)).toEqual(["completed", "completed", "completed"]);
    const notYet = await c.call<{ satisfied: boolean }>("wait_for_agents", { task_id, agent_ids: [sleeper.agent_id], timeout_s: 0.3 });
    expect(notYet.satisfied).toBe(false);

    const killed = await c.call<{ killed_now: boolean; agent: { status: string }; cleanup: { status: string; steps: { step: string; outcome: string }[] } }>(
      "kill_real_agent",
      { task_id, agent_id: sleeper.agent_id, reason: "done with it" },
    );
    expect(killed.killed_now).toBe(true);
    expect(killed.agent.status).toBe("killed");
    expect(killed.cleanup.status).toBe("done");
    // A plain process holds no session: that step has nothing to close.
    expect(killed.cleanup.steps.every((s) => s.outcome === (s.step === "close_session" ? "skipped" : "ok"))).toBe(true);
    expect(isAlive({ pid: sleeper.pid!, startTime: readStat(sleeper.pid!)?.startTime ?? "gone" })).toBe(false);

    const archived = await c.call<{ source: string; text: string }>("get_agent_output", { task_id, agent_id: quick[1]!.agent_id });
    expect([archived.source, archived.text]).toEqual(["archive", "worker 2 got: job 2\n"]);
    const summary = await c.call<{ summary: { status: string; exit: unknown } }>("get_agent_output", {
      task_id,
      agent_id: quick[0]!.agent_id,
      response_format: "summary",
    });
    expect(summary.summary).toMatchObject({ status: "completed", exit: { kind: "exited", code: 0 } });

    const status = await c.call<Status>("get_real_task_status", { task_id });
    expect(status.counts).toMatchObject({ completed: 3, killed: 1, running: 0 });
    expect(status.agents.every((a) => a.cleanup === "done")).toBe(true);
    expect(status.limits.concurrent_agents.used).toBe(0);
    const again = await c.call<Status>("get_real_task_status", { task_id });
    expect(again).toEqual(status);

    const { tasks } = await c.call<{ tasks: { task_id: string; agents: number }[] }>("list_real_tasks");
    expect(tasks).toEqual([expect.objectContaining({ task_id, agents: 4 })]);
    const text = async (uri: string): Promise<string> => {
      const content = (await c.client.readResource({ uri })).contents[0];
      return content !== undefined && "text" in content ? content.text : "";
    };
    expect(JSON.parse(await text(`task://${task_id}/status`)).counts.completed).toBe(3);
    expect(await text(`agent://${task_id}/${quick[2]!.agent_id}/output`)).toBe("worker 3 got: job 3\n");
    expect(JSON.parse(await text("tasks://list"))).toEqual({ page: { offset: 0, returned: 1, total: 1, next: null }, tasks: [expect.objectContaining({ task_id })] });
    const timeline = JSON.parse(await text(`task://${task_id}/progress-timeline`)) as { total: number; events: { id: number }[] };
    expect(timeline.events.length).toBe(Math.min(timeline.total, 500));
    expect(timeline.events.map((e) => e.id)).toEqual([...timeline.events.map((e) => e.id)].sort((a, b) => a - b));
  });

  it("spawns children within the depth limit and refuses the one beyond it", async () => {
    coordinator = await startCoordinator({ CORRAL_MAX_DEPTH: "1" });
    const c = coordinator;
    const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "tree" });
    const sleep300 = { backend: "command", command: ["sleep", "300"] };
    const lead = await c.call<Deployed>("deploy_headless_agent", { task_id, agent_type: "lead", prompt: "p", ...sleep300 });
    const child = await c.call<Deployed>("spawn_child_agent", {
      task_id,
      parent_agent_id: lead.agent_id,
      child_agent_type: "helper",
      child_prompt: "p",
      ...sleep300,
    });
    const refusal = await c.refused("spawn_child_agent", {
      task_id,
      parent_agent_id: child.agent_id,
      child_agent_type: "helper",
      child_prompt: "p",
      ...sleep300,
    });
    expect(refusal).toMatch(/^LIMIT_DEPTH: .*maxDepth=1/);
    const status = await c.call<Status>("get_real_task_status", { task_id });
    expect(status.hierarchy).toEqual([{ agent_id: lead.agent_id, status: "running", children: [{ agent_id: child.agent_id, status: "running", children: [] }] }]);
    await c.call("kill_real_agent", { task_id, agent_id: lead.agent_id });
    const after = await c.call<Status>("get_real_task_status", { task_id });
    expect(after.counts.killed).toBe(2);
  });

  it("kills the agents it launched when its client goes away", async () => {
    coordinator = await startCoordinator();
    const { task_id } = await coordinator.call<{ task_id: string }>("create_real_task", { description: "orphans" });
    const agent = await coordinator.call<Deployed>("deploy_headless_agent", {
      task_id,
      agent_type: "sleeper",
      prompt: "p",
      backend: "command",
      command: ["sleep", "300"],
    });
    const identity = { pid: agent.pid!, startTime: readStat(agent.pid!)!.startTime };
    const server = coordinator.transport.pid!;
    await coordinator.close();
    coordinator = null;
    for (let i = 0; i < 200 && (isAlive(identity) || readStat(server) !== null); i += 1) await sleep(25);
    expect(isAlive(identity)).toBe(false);
    expect(readStat(server)).toBeNull();
  });
});

describe("malformed input gets a clear error naming the argument at fault", () => {
  const task = "TASK-20260101-000000-00000000";
  const agent = "a-000000-000000";
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["create_real_task", {}, /description/],
    ["create_real_task", { description: "   " }, /a task needs a description/],
    ["create_real_task", { description: "d", priority: "urgent" }, /priority/],
    ["deploy_headless_agent", { task_id: task, agent_type: "w", prompt: "p", command: ["true"], backend: "command" }, /^UNKNOWN_TASK: task_id: no task/],
    ["deploy_headless_agent", { task_id: "nope", agent_type: "w", prompt: "p", backend: "command", command: ["true"] }, /^INVALID_ID: task_id: a task id looks like/],
    ["deploy_headless_agent", { task_id: task, agent_type: "Bad Type", prompt: "p" }, /^INVALID_AGENT_TYPE: agent_type: an agent type is 1 to 40/],
    ["deploy_headless_agent", { task_id: task, agent_type: "w" }, /^INVALID_INPUT: prompt: /],
    ["deploy_headless_agent", { task_id: task, agent_type: "w", prompt: "p", backend: "nope" }, /^INVALID_INPUT: backend: /],
    ["deploy_headless_agent", { task_id: 42, agent_type: "w", prompt: "p" }, /^INVALID_ID: task_id: /],
    ["deploy_headless_agent", { task_id: task, agentType: "w", prompt: "p" }, /^INVALID_INPUT: agentType: not an input here/],
    ["deploy_headless_agent", { task_id: task, agent_type: "w", prompt: "p", parent: "x" }, /^INVALID_ID: parent: an agent id looks like/],
    ["spawn_child_agent", { task_id: task, parent_agent_id: "x", child_agent_type: "w", child_prompt: "p" }, /^INVALID_ID: parent_agent_id: an agent id looks like/],
    ["get_real_task_status", {}, /^INVALID_ID: task_id: /],
    ["get_real_task_status", { task_id: "TASK-../../etc" }, /^INVALID_ID: task_id: /],
    ["get_real_task_status", { task_id: task }, /^UNKNOWN_TASK: task_id: /],
    ["get_agent_output", { task_id: task, agent_id: agent }, /^UNKNOWN_TASK: task_id: /],
    ["get_agent_output", { task_id: task, agent_id: "a" }, /^INVALID_ID: agent_id: an agent id looks like/],
    ["get_agent_output", { task_id: task, agent_id: agent, response_format: "poem" }, /^INVALID_INPUT: response_format: /],
    ["get_agent_output", { task_id: task, agent_id: agent, tail: -3 }, /^INVALID_INPUT: tail: .*>=1/],
    ["get_agent_output", { task_id: task, agent_id: agent, max_bytes: 16_000_000 }, /^INVALID_INPUT: max_bytes: .*<=524288/],
    ["get_agent_output", { task_id: task, agent_id: agent, filter: "(" }, /^INVALID_INPUT: filter: /],
    ["wait_for_agents", { task_id: task, agent_ids: Array.from({ length: 1001 }, () => agent) }, /^INVALID_ID: agent_ids: .*<=1000/],
    ["get_real_task_status", { task_id: task, cursor: "x".repeat(MAX_CURSOR_CHARS + 1) }, /^INVALID_INPUT: cursor: /],
    ["kill_real_agent", { task_id: task }, /^INVALID_ID: agent_id: /],
    ["kill_real_agent", { task_id: task, agent_id: "ghost-000000-000000" }, /^UNKNOWN_TASK: task_id: /],
    ["wait_for_agents", { task_id: task, mode: "some" }, /^INVALID_INPUT: mode: /],
    ["wait_for_agents", { task_id: task, timeout_s: -1 }, /^INVALID_INPUT: timeout_s: /],
    ["list_real_tasks", { extra: { deep: [1, 2, 3] } }, /^INVALID_INPUT: extra: not an input here/],
  ];

  let shared: Coordinator;
  beforeAll(async () => {
    shared = await startCoordinator();
  });
  afterAll(async () => {
    await shared.close();
  });

  it.each(cases)("%s %j", async (tool, args, expected) => {
    expect(await shared.refused(tool, args)).toMatch(expected);
  });

  it("publishes a refusal as {code, message, field}, the field in the tool's own words", async () => {
    const error = await shared.refusal("spawn_child_agent", { task_id: task, parent_agent_id: agent, child_agent_type: "Bad Type", child_prompt: "p" });
    expect(error).toEqual({ code: "INVALID_AGENT_TYPE", message: expect.stringContaining("1 to 40") as string, field: "child_agent_type" });
  });

  it("names an unknown parent by the argument it came in", async () => {
    const { task_id } = await shared.call<{ task_id: string }>("create_real_task", { description: "orphaned child" });
    const launch = { task_id, prompt: "p", backend: "command", command: ["true"] };
    expect(await shared.refusal("deploy_headless_agent", { ...launch, agent_type: "w", parent: agent })).toMatchObject({ code: "UNKNOWN_AGENT", field: "parent" });
    expect(await shared.refusal("spawn_child_agent", { task_id, parent_agent_id: agent, child_agent_type: "w", child_prompt: "p", backend: "command", command: ["true"] })).toMatchObject({
      code: "UNKNOWN_AGENT",
      field: "parent_agent_id",
    });
  });
});
