import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap, type ErrorCode, type Result } from "../src/domain/errors.js";
import type { AgentId, TaskId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { isAlive } from "../src/supervisor/identity.js";
import { Corral } from "../src/lifecycle/corral.js";
import { openCorral } from "./helpers/sandbox.js";

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

function expectError(result: Result<unknown>, code: ErrorCode, text: string): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  expect(result.error.message).toContain(text);
}

/** What a failed call must leave exactly as it was. */
function snapshot(c: Corral) {
  const tasks = c.store.tasks.list();
  return {
    tasks: tasks.map((t) => [t.id, t.agentCount, t.activeCount, t.eventCount]),
    agents: tasks.flatMap((t) => c.store.agents.forTask(t.id).map((a) => [a.id, a.status, a.eventCount])),
    workspaces: existsSync(c.workspaces.root) ? readdirSync(c.workspaces.root) : [],
  };
}

describe("bad input gets a specific error and changes nothing", () => {
  const deployCases: [string, Record<string, unknown>, ErrorCode, string][] = [
    ["an unknown task", { taskId: "TASK-20260101-000000-00000000" }, "UNKNOWN_TASK", "no task TASK-20260101-000000-00000000"],
    ["a malformed task id", { taskId: "../../etc" }, "INVALID_ID", "taskId"],
    ["an agent type with capitals", { agentType: "Worker" }, "INVALID_AGENT_TYPE", "a-z, 0-9"],
    ["an agent type with a slash", { agentType: "../x" }, "INVALID_AGENT_TYPE", "agentType"],
    ["an agent type of 41 characters", { agentType: "a".repeat(41) }, "INVALID_AGENT_TYPE", "1 to 40"],
    ["an empty agent type", { agentType: "" }, "INVALID_AGENT_TYPE", "agentType"],
    ["an empty prompt", { prompt: "" }, "INVALID_INPUT", "prompt"],
    ["no command for the command backend", { backend: "command", command: undefined }, "INVALID_INPUT", "needs `command`"],
    ["an unknown backend", { backend: "nope" }, "INVALID_INPUT", "backend"],
    ["an unknown field", { colour: "red" }, "INVALID_INPUT", "colour"],
    ["a cwd that does not exist", { cwd: "/nonexistent/dir" }, "INVALID_INPUT", "not an existing directory"],
    ["an unknown parent", { parentId: "lead-120000-abcdef" }, "UNKNOWN_AGENT", "no agent lead-120000-abcdef"],
    ["a malformed parent id", { parentId: "x" }, "INVALID_ID", "parentId"],
    ["a NUL byte in the command", { command: ["echo", "a\0b"] }, "INVALID_INPUT", "NUL"],
  ];

  it.each(deployCases)("deploy with %s", async (_name, change, code, text) => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "bad input" }));
    const before = snapshot(corral);
    const input = { taskId: task.id, agentType: "worker", prompt: "p", command: ["true"], ...change };
    expectError(await corral.deploy(input as never), code, text);
    expect(snapshot(corral)).toEqual(before);
  });

  it.each([
    ["no description", {}, "description"],
    ["a blank description", { description: "   " }, "a task needs a description"],
    ["an unknown priority", { description: "d", priority: "urgent" }, "priority"],
  ])("create a task with %s", (_name, input, text) => {
    corral = openCorral();
    const before = snapshot(corral);
    expectError(corral.createTask(input as never), "INVALID_INPUT", text);
    expect(snapshot(corral)).toEqual(before);
  });

  it.each([
    ["an unknown agent", "ghost-120000-abcdef", { kind: "progress", status: "s", message: "m" }, "UNKNOWN_AGENT"],
    ["progress over 100", null, { kind: "progress", status: "s", message: "m", progress: 101 }, "INVALID_INPUT"],
    ["an unknown kind", null, { kind: "gossip", message: "m" }, "INVALID_INPUT"],
    ["a finding without severity", null, { kind: "finding", findingType: "bug", message: "m" }, "INVALID_INPUT"],
  ] as const)("report %s", async (_name, agentId, event, code) => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "d" }));
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] }));
    const before = snapshot(corral);
    const result = await corral.report(agentId ?? agent.id, event as never);
    expect(result.ok ? "ok" : result.error.code).toBe(code);
    expect(snapshot(corral)).toEqual(before);
    unwrap(await corral.kill(agent.id));
  });

  it("kill of an unknown agent", async () => {
    corral = openCorral();
    expectError(await corral.kill("ghost-120000-abcdef"), "UNKNOWN_AGENT", "no agent ghost-120000-abcdef");
  });

  it("a path outside the workspace is refused and nothing outside is deleted", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "d" }));
    const outside = join(corral.config.home, "precious.txt");
    writeFileSync(outside, "keep me");
    expectError(corral.workspaces.removeAgentDir(task.id, "../../precious.txt"), "PATH_OUTSIDE_WORKSPACE", "outside the workspace");
    expectError(corral.workspaces.removeAgentDir(task.id, outside), "PATH_OUTSIDE_WORKSPACE", "outside the workspace");
    expectError(corral.workspaces.agentPaths("../x" as TaskId, "a-120000-abcdef" as AgentId), "PATH_OUTSIDE_WORKSPACE", "outside");

    // A row whose agent dir was tampered with: cleanup refuses that step and runs the others.
    const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] }));
    const db = new Database(join(corral.config.home, "corral.db"));
    db.prepare("UPDATE agents SET agent_dir = ? WHERE id = ?").run(corral.config.home, agent.id);
    db.close();
    const killed = unwrap(await corral.kill(agent.id));
    expect(killed.cleanup.status).toBe("partial");
    const step = killed.cleanup.steps.find((s) => s.step === "delete_temp_files");
    expect([step?.outcome, step?.error]).toEqual(["failed", expect.stringContaining("outside the workspace")]);
    expect(killed.cleanup.steps.find((s) => s.step === "release_slot")?.outcome).toBe("ok");
    expect(existsSync(outside)).toBe(true);
    expect(existsSync(join(corral.config.home, "corral.db"))).toBe(true);
    // Put the row right so that the retry can remove the real temp dir.
    const fix = new Database(join(corral.config.home, "corral.db"));
    fix.prepare("UPDATE agents SET agent_dir = ? WHERE id = ?").run(agent.agentDir, agent.id);
    fix.close();
    await corral.retryCleanups();
    expect(corral.agent(agent.id)?.cleanupStatus).toBe("done");
  });
});

describe("disk space", () => {
  it("refuses a deploy below the free-space floor, and the running agents keep running", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "disk" }));
    const running = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] }));
    // A second corral on the same store, whose floor no disk can meet.
    const floored = unwrap(Corral.open({ ...corral.config, minFreeMb: Number.MAX_SAFE_INTEGER }, createLogger("silent"), { watch: false }));
    try {
      const before = snapshot(floored);
      expectError(await floored.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["true"] }), "DISK_LOW", "below minFreeMb");
      expect(snapshot(floored)).toEqual(before);
      expect(corral.agent(running.id)?.status).toBe("running");
      expect(isAlive({ pid: running.process!.pid, startTime: running.process!.startTime })).toBe(true);
    } finally {
      await floored.close();
    }
  });
});

describe("limits", () => {
  async function deployIn(c: Corral, taskId: TaskId, parentId?: AgentId) {
    return c.deploy({ taskId, agentType: "w", prompt: "p", command: ["sleep", "300"], ...(parentId ? { parentId } : {}) });
  }

  it.each([
    ["maxConcurrentAgents", { maxConcurrentAgents: 2 }, "LIMIT_GLOBAL_AGENTS"],
    ["maxAgentsPerTask", { maxAgentsPerTask: 2 }, "LIMIT_TASK_AGENTS"],
  ] as const)("%s refuses the agent over it", async (_name, limits, code) => {
    corral = openCorral(limits);
    const task = unwrap(corral.createTask({ description: "d" }));
    const first = unwrap(await deployIn(corral, task.id));
    const second = unwrap(await deployIn(corral, task.id));
    const before = snapshot(corral);
    expectError(await deployIn(corral, task.id), code, String(Object.values(limits)[0]));
    expect(snapshot(corral)).toEqual(before);
    for (const a of [first, second]) unwrap(await corral.kill(a.id));
    if (code === "LIMIT_GLOBAL_AGENTS") {
      // The slots came back with the cleanup.
      const third = unwrap(await deployIn(corral, task.id));
      unwrap(await corral.kill(third.id));
    }
  });

  it("maxDepth and maxChildrenPerParent refuse the child over them", async () => {
    corral = openCorral({ maxDepth: 1, maxChildrenPerParent: 1 });
    const task = unwrap(corral.createTask({ description: "d" }));
    const root = unwrap(await deployIn(corral, task.id));
    const child = unwrap(await deployIn(corral, task.id, root.id));
    const before = snapshot(corral);
    expectError(await deployIn(corral, task.id, child.id), "LIMIT_DEPTH", "maxDepth=1");
    expectError(await deployIn(corral, task.id, root.id), "LIMIT_CHILDREN", "maxChildrenPerParent=1");
    expect(snapshot(corral)).toEqual(before);
    unwrap(await corral.kill(root.id));
    expectError(await deployIn(corral, task.id, root.id), "PARENT_NOT_RUNNING", "only a live agent");
  });
});

describe("configuration that cannot work", () => {
  const root = () => process.env.CORRAL_TEST_ROOT as string;

  it("refuses subreaper=tini when tini is not on PATH, and creates nothing", () => {
    const home = join(root(), "no-tini");
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const config = unwrap(loadConfig({ CORRAL_HOME: home, CORRAL_SUBREAPER: "tini" }));
      const opened = Corral.open(config);
      expect(opened.ok ? "opened" : opened.error.message).toContain("tini is not on PATH");
    } finally {
      process.env.PATH = path;
    }
    expect(existsSync(home)).toBe(false);
  });

  it("reads the config file, lets the environment override it, and names a bad value", () => {
    const file = join(root(), "config.json");
    writeFileSync(file, JSON.stringify({ graceMs: 1234, maxDepth: 0 }));
    const config = unwrap(loadConfig({ CORRAL_CONFIG: file, CORRAL_MAX_DEPTH: "2", HOME: root() }));
    expect([config.graceMs, config.maxDepth, config.home]).toEqual([1234, 2, join(root(), ".corral")]);

    writeFileSync(file, "{ not json");
    const broken = loadConfig({ CORRAL_CONFIG: file });
    expect(broken.ok ? "" : `${broken.error.code} ${broken.error.message}`).toMatch(/^CONFIG_INVALID cannot read .*config\.json/);
    const missing = loadConfig({ CORRAL_CONFIG: join(root(), "absent.json") });
    expect(missing.ok ? "" : missing.error.message).toContain("does not exist");
    const wrong = loadConfig({ CORRAL_GRACE_MS: "soon", HOME: root() });
    expect(wrong.ok ? "" : wrong.error.message).toContain("CORRAL_GRACE_MS");
  });
});
