import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap, type ErrorCode, type Result } from "../src/domain/errors.js";
import type { AgentId, TaskId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { isAlive } from "../src/supervisor/identity.js";
import { Corral } from "../src/lifecycle/corral.js";
import { CORRAL_BIN, startCoordinator } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";
import { withStore } from "./helpers/store.js";

const exec = promisify(execFile);

/** Two symbolic links that point at each other: resolving either never ends. */
function symlinkLoop(name: string): string {
  const a = join(process.env.CORRAL_TEST_ROOT as string, `${name}-loop-a`);
  const b = join(process.env.CORRAL_TEST_ROOT as string, `${name}-loop-b`);
  symlinkSync(b, a);
  symlinkSync(a, b);
  return a;
}

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

/** `text` is looked for in `field: message`: the field at fault is named in snake_case, apart from the message. */
function expectError(result: Result<unknown>, code: ErrorCode, text: string): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  expect(result.error.field === undefined ? result.error.message : `${result.error.field}: ${result.error.message}`).toContain(text);
}

/** What a failed call must leave exactly as it was. */
function snapshot(c: Corral) {
  const [tasks, agents] = withStore(c.config.home, (store) => {
    const all = store.tasks.list();
    return [all, all.flatMap((t) => store.agents.forTask(t.id).map((a) => [a.id, a.status, a.eventCount]))] as const;
  });
  return {
    tasks: tasks.map((t) => [t.id, t.agentCount, t.activeCount, t.eventCount]),
    agents,
    workspaces: existsSync(c.workspaces.root) ? readdirSync(c.workspaces.root) : [],
  };
}

describe("bad input gets a specific error and changes nothing", () => {
  const deployCases: [string, Record<string, unknown>, ErrorCode, string][] = [
    ["an unknown task", { taskId: "TASK-20260101-000000-00000000" }, "UNKNOWN_TASK", "no task TASK-20260101-000000-00000000"],
    ["a malformed task id", { taskId: "../../etc" }, "INVALID_ID", "task_id: a task id looks like"],
    ["an agent type with capitals", { agentType: "Worker" }, "INVALID_AGENT_TYPE", "a-z, 0-9"],
    ["an agent type with a slash", { agentType: "../x" }, "INVALID_AGENT_TYPE", "agent_type: "],
    ["an agent type of 41 characters", { agentType: "a".repeat(41) }, "INVALID_AGENT_TYPE", "1 to 40"],
    ["an empty agent type", { agentType: "" }, "INVALID_AGENT_TYPE", "agent_type: "],
    ["an empty prompt", { prompt: "" }, "INVALID_INPUT", "prompt"],
    ["no command for the command backend", { backend: "command", command: undefined }, "INVALID_INPUT", "needs an argv to run"],
    ["an unknown backend", { backend: "nope" }, "INVALID_INPUT", "backend: "],
    ["an unknown field", { colour: "red" }, "INVALID_INPUT", "colour: not an input here"],
    ["a cwd that does not exist", { cwd: "/nonexistent/dir" }, "INVALID_INPUT", "cwd: /nonexistent/dir does not exist"],
    ["a relative cwd", { cwd: "project" }, "INVALID_INPUT", 'cwd: must be an absolute path, not "project"'],
    ["a NUL byte in the cwd", { cwd: "/tmp/a\0b" }, "INVALID_INPUT", "cwd: may not contain a NUL byte"],
    ["a cwd that is a file", { cwd: "/etc/hostname" }, "INVALID_INPUT", "cwd: /etc/hostname is not a directory"],
    ["a command for the claude backend", { backend: "claude" }, "INVALID_INPUT", "command: the claude backend runs claude and takes no argv"],
    ["an unknown parent", { parentId: "lead-120000-abcdef" }, "UNKNOWN_AGENT", "parent_id: no agent lead-120000-abcdef"],
    ["a malformed parent id", { parentId: "x" }, "INVALID_ID", "parent_id: an agent id looks like"],
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

  it("deploy with a cwd that is a loop of symbolic links", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "loop" }));
    const loop = symlinkLoop("deploy");
    const before = snapshot(corral);
    expectError(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["true"], cwd: loop }), "INVALID_INPUT", `cwd: ${loop} goes through a loop of symbolic links`);
    expect(snapshot(corral)).toEqual(before);
  });

  it.each([
    ["a relative path", () => "project", 'client_cwd: must be an absolute path, not "project"'],
    ["a path that does not exist", () => "/nonexistent/project", "client_cwd: /nonexistent/project does not exist"],
    ["a NUL byte", () => "/tmp/a\0b", "client_cwd: may not contain a NUL byte"],
    ["a file", () => "/etc/hostname", "client_cwd: /etc/hostname is not a directory"],
    ["a loop of symbolic links", () => symlinkLoop("create"), "goes through a loop of symbolic links"],
  ])("create a task whose client cwd is %s", (_name, path, text) => {
    corral = openCorral();
    const before = snapshot(corral);
    expectError(corral.createTask({ description: "d", clientCwd: path() }), "INVALID_INPUT", text);
    expect(snapshot(corral)).toEqual(before);
  });

  it("a task's client cwd is kept resolved, so its agents work in the real directory", () => {
    corral = openCorral();
    const real = mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "project-"));
    const link = `${real}-link`;
    symlinkSync(real, link);
    const task = unwrap(corral.createTask({ description: "d", clientCwd: link }));
    expect(task.context.clientCwd).toBe(real);
  });

  it("create_real_task refuses a relative client_cwd by the tool's own field name, and creates nothing", async () => {
    corral = openCorral();
    const server = await startCoordinator();
    try {
      const text = await server.refused("create_real_task", { description: "d", client_cwd: "src" });
      expect(text).toBe('INVALID_INPUT: client_cwd: must be an absolute path, not "src"');
      expect(await server.call<{ tasks: unknown[] }>("list_real_tasks")).toMatchObject({ tasks: [] });
      expect(existsSync(join(server.home, "workspaces")) ? readdirSync(join(server.home, "workspaces")) : []).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it.each([
    ["an unknown backend", ["-b", "nope", "--", "true"], "argument 'nope' is invalid"],
    ["the command backend without an argv", ["-b", "command"], "-- ARGV: the command backend needs an argv to run"],
    ["a bad agent type", ["-t", "Bad Type", "--", "true"], "corral: INVALID_AGENT_TYPE: --type:"],
    ["an argv for the claude backend", ["-b", "claude", "--", "true"], "corral: INVALID_INPUT: -- ARGV: the claude backend"],
    ["a bad agent count", ["-n", "0", "--", "true"], "--agents takes a whole number from 1 to 100, not 0"],
  ])("corral run with %s is refused before any task or workspace is made", async (_name, args, text) => {
    corral = openCorral();
    const home = join(process.env.CORRAL_TEST_ROOT as string, `run-refused-${Math.random().toString(16).slice(2)}`);
    const failure = await exec(process.execPath, [CORRAL_BIN, "run", "do it", ...args], { env: { ...process.env, CORRAL_HOME: home } }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain(text);
    expect(existsSync(join(home, "workspaces")) ? readdirSync(join(home, "workspaces")) : []).toEqual([]);
    if (existsSync(join(home, "corral.db"))) {
      const db = new Database(join(home, "corral.db"), { readonly: true });
      expect(db.prepare("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 0 });
      db.close();
    }
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
  const linkTo = (target: string, name: string): string => {
    const link = join(root(), name);
    symlinkSync(target, link);
    return link;
  };

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

  it.each([
    ["a relative path", () => "state", "CORRAL_HOME: must be an absolute path"],
    ["a path under /proc", () => "/proc/corral", "CORRAL_HOME: may not be under /proc or /sys"],
    ["a path under /sys", () => "/sys/corral", "CORRAL_HOME: may not be under /proc or /sys"],
    ["a path that climbs into /proc", () => "/tmp/../proc/corral", "CORRAL_HOME: may not be under /proc or /sys"],
    ["a path through a link to /proc", () => linkTo("/proc", "proc-link") + "/corral", "is on a kernel file system (/proc)"],
    ["a file", () => "/etc/hostname", "CORRAL_HOME: /etc/hostname is not a directory"],
    ["a path under a file", () => "/etc/hostname/corral", "CORRAL_HOME: /etc/hostname/corral cannot be"],
  ])("the state dir is refused at config load when it is %s", (_name, home, text) => {
    const loaded = loadConfig({ CORRAL_HOME: home(), HOME: root() });
    expect(loaded.ok ? "loaded" : `${loaded.error.code}: ${loaded.error.message}`).toMatch(/^CONFIG_INVALID: /);
    expect(loaded.ok ? "" : loaded.error.message).toContain(text);
  });

  it("a state dir that cannot be made is a clear error, never a loop that retries forever", async () => {
    // Node's recursive mkdir spins forever under /proc; corral makes one level at a time.
    const config = { ...unwrap(loadConfig({ CORRAL_HOME: join(root(), "state"), HOME: root() })), home: "/proc/self/corral" };
    const opened = Corral.open(config, createLogger("silent"), { watch: false });
    expect(opened.ok ? "opened" : `${opened.error.code}: ${opened.error.message}`).toMatch(/^DB_UNAVAILABLE: cannot create the state dir \/proc\/self\/corral/);
    const cli = await exec(process.execPath, [CORRAL_BIN, "ps"], { env: { ...process.env, CORRAL_HOME: "/proc/x" } }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    expect([cli.code, cli.stderr]).toEqual([2, "corral: CONFIG_INVALID: invalid configuration: CORRAL_HOME: may not be under /proc or /sys: those hold no files of ours\n"]);
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
