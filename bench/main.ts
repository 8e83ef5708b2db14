import { spawn, type ChildProcess } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import Database from "better-sqlite3";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { RUNNER_KINDS, type Config, type RunnerKind } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { corralEntry } from "../src/lifecycle/self.js";
import { hashToken, newToken } from "../src/lifecycle/tokens.js";
import { Cgroups } from "../src/supervisor/cgroup.js";
import { childPids, readStat } from "../src/supervisor/procfs.js";
import { round, summarize, type Summary } from "./stats.js";
import { withStore } from "../test/helpers/store.js";

/**
 * corral's speed and resource figures, printed as a table and written as JSON under
 * bench/results/. Figures, not assertions: each row shows its target and whether it was met.
 */
interface Row {
  readonly name: string;
  readonly figure: string;
  readonly target: string;
  readonly met: boolean | null;
}

const rows: Row[] = [];
const report: Record<string, unknown> = {};
const scratch = mkdtempSync(join(tmpdir(), "corral-bench-"));
const SLEEPER = ["sleep", "300"];

function record(name: string, figure: string, target: string, met: boolean | null, data: unknown): void {
  rows.push({ name, figure, target, met });
  report[name] = data;
  process.stderr.write(`  ${name}: ${figure}\n`);
}

function openCorral(overrides: Partial<Config> = {}): Corral {
  const home = mkdtempSync(join(scratch, "state-"));
  const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), ...overrides };
  return unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
}

async function withCorral<T>(overrides: Partial<Config>, fn: (c: Corral) => Promise<T>): Promise<T> {
  const corral = openCorral(overrides);
  try {
    return await fn(corral);
  } finally {
    await corral.close();
    rmSync(corral.config.home, { recursive: true, force: true });
  }
}

const ms = (s: Summary): string => `median ${round(s.median)} ms (p95 ${round(s.p95)}, n=${s.n})`;
const openFds = (): number => readdirSync("/proc/self/fd").length;
const zombies = (): number => childPids(process.pid).filter((pid) => readStat(pid)?.state === "Z").length;

/** Descriptors, RSS after a full collection (the bench runs with --expose-gc), zombie children. */
async function resources(): Promise<{ fds: number; rssMiB: number; heapMiB: number; heapTotalMiB: number; zombies: number }> {
  await sleep(100);
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const mib = (bytes: number): number => bytes / 2 ** 20;
  return { fds: openFds(), rssMiB: mib(memory.rss), heapMiB: mib(memory.heapUsed), heapTotalMiB: mib(memory.heapTotal), zombies: zombies() };
}

/** 1,000 sleeping processes that are none of corral's business. */
async function startCrowd(): Promise<ChildProcess> {
  const crowd = spawn("bash", ["-c", "for i in $(seq 1000); do sleep 600 & done; echo ready; wait"], {
    stdio: ["ignore", "pipe", "ignore"],
    detached: true,
  });
  await new Promise((resolve) => crowd.stdout?.once("data", resolve));
  return crowd;
}

/** Kills the crowd and waits until init has reaped it, so its zombies do not weigh on the next figure. */
async function stopCrowd(crowd: ChildProcess): Promise<void> {
  const members = childPids(crowd.pid as number);
  process.kill(-(crowd.pid as number), "SIGKILL");
  await new Promise((resolve) => crowd.once("close", resolve));
  while (members.some((pid) => readStat(pid) !== null)) await sleep(50);
}

async function killToClean(overrides: Partial<Config>, samples: number): Promise<Summary> {
  return withCorral(overrides, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench kill" }));
    const times: number[] = [];
    for (let i = 0; i < samples; i += 1) {
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER }));
      await sleep(20);
      const t0 = performance.now();
      const killed = unwrap(await corral.kill(agent.id));
      times.push(performance.now() - t0);
      if (killed.cleanup.status !== "done") throw new Error(`cleanup of ${agent.id} is ${killed.cleanup.status}`);
    }
    return summarize(times);
  });
}

/** The ways an agent's processes are found: its cgroup (where the host gives one), tini's tree, a sweep. */
const CONTAINMENTS = [
  ["cgroup", { cgroups: "on", subreaper: "auto" }],
  ["tini", { cgroups: "off", subreaper: "auto" }],
  ["no subreaper", { cgroups: "off", subreaper: "none" }],
] as const;

async function benchKill(): Promise<void> {
  for (const [label, overrides] of CONTAINMENTS) {
    if (label === "cgroup" && !cgroupsUsable()) {
      process.stderr.write("  (no writable cgroup v2 hierarchy here: the cgroup rows are left out)\n");
      continue;
    }
    const quiet = await killToClean(overrides, 30);
    const crowd = await startCrowd();
    let busy: Summary;
    try {
      busy = await killToClean(overrides, 30);
    } finally {
      await stopCrowd(crowd);
    }
    record(`kill → verified clean, cooperative (${label}), 0 other processes`, ms(quiet), "median ≤ 50 ms", quiet.median <= 50, quiet);
    record(
      `kill → verified clean, cooperative (${label}), 1,000 other processes`,
      `${ms(busy)}; ×${round(busy.median / quiet.median)} of the quiet median`,
      "median ≤ 50 ms",
      busy.median <= 50,
      busy,
    );
  }
  const graceMs = 500;
  const stubborn = await withCorral({ graceMs }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench stubborn" }));
    const times: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const agent = unwrap(
        await corral.deploy({ taskId: task.id, agentType: "stubborn", prompt: "p", command: ["bash", "-c", "trap '' TERM; while :; do sleep 0.05; done"] }),
      );
      await sleep(50);
      const t0 = performance.now();
      unwrap(await corral.kill(agent.id));
      times.push(performance.now() - t0);
    }
    return summarize(times);
  });
  record(
    `kill → verified clean, SIGTERM ignored (grace ${graceMs} ms)`,
    ms(stubborn),
    `median ≤ ${graceMs + 100} ms`,
    stubborn.median <= graceMs + 100,
    { graceMs, ...stubborn },
  );
  // A stopped agent keeps its SIGTERM pending until continued: without the SIGCONT that
  // follows it, this would cost the whole grace period.
  const stoppedGraceMs = 5000;
  const stopped = await withCorral({ graceMs: stoppedGraceMs, subreaper: "none" }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench stopped" }));
    const times: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const agent = unwrap(
        await corral.deploy({ taskId: task.id, agentType: "stopped", prompt: "p", command: ["bash", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"] }),
      );
      await sleep(50);
      const pid = agent.process?.pid as number;
      process.kill(pid, "SIGSTOP");
      while (readStat(pid)?.state !== "T") await sleep(1);
      const t0 = performance.now();
      const killed = unwrap(await corral.kill(agent.id));
      times.push(performance.now() - t0);
      if (killed.cleanup.steps.find((s) => s.step === "terminate")?.detail.escalated !== false) throw new Error(`${agent.id} needed SIGKILL`);
    }
    return summarize(times);
  });
  record(
    `kill → verified clean, SIGSTOPped agent that handles SIGTERM (grace ${stoppedGraceMs} ms)`,
    ms(stopped),
    "median ≤ 100 ms",
    stopped.median <= 100,
    { graceMs: stoppedGraceMs, ...stopped },
  );
}

function cgroupsUsable(): boolean {
  return Cgroups.open(join(scratch, "cgroup-probe")).ok;
}

async function benchDeploy(): Promise<void> {
  const summary = await withCorral({}, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench deploy" }));
    const times: number[] = [];
    const ids: AgentId[] = [];
    for (let i = 0; i < 50; i += 1) {
      const t0 = performance.now();
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER }));
      times.push(performance.now() - t0);
      ids.push(agent.id);
      if (ids.length === 10) await Promise.all(ids.splice(0).map((id) => corral.kill(id)));
    }
    await Promise.all(ids.map((id) => corral.kill(id)));
    return summarize(times);
  });
  record("deploy → running (row, files, spawn; not the program's start-up)", ms(summary), "median ≤ 20 ms", summary.median <= 20, summary);
}

/** Each runner's deploy, kill and short life, measured in one run so their ratio means something. */
async function benchRunners(): Promise<void> {
  const measured = new Map<RunnerKind, { deploy: Summary; kill: Summary; life: Summary }>();
  for (const runner of RUNNER_KINDS) {
    measured.set(
      runner,
      await withCorral({ runner, maxAgentsPerTask: 1000 }, async (corral) => {
        const task = unwrap(corral.createTask({ description: `bench ${runner}` }));
        const deploys: number[] = [];
        const kills: number[] = [];
        const lives: number[] = [];
        for (let i = 0; i < 30; i += 1) {
          let t0 = performance.now();
          const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER }));
          deploys.push(performance.now() - t0);
          await sleep(20);
          t0 = performance.now();
          const killed = unwrap(await corral.kill(agent.id));
          kills.push(performance.now() - t0);
          if (killed.cleanup.status !== "done") throw new Error(`cleanup of ${agent.id} is ${killed.cleanup.status}`);
          t0 = performance.now();
          const quick = unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: ["true"] }));
          const cleaned = await corral.whenCleaned(quick.id);
          lives.push(performance.now() - t0);
          if (cleaned.cleanupStatus !== "done") throw new Error(`cleanup of ${quick.id} is ${cleaned.cleanupStatus}`);
        }
        return { deploy: summarize(deploys), kill: summarize(kills), life: summarize(lives) };
      }),
    );
  }
  const plain = measured.get("process")!;
  const tmux = measured.get("tmux")!;
  const versus = (a: Summary, b: Summary): string => `${ms(a)}; ×${round(a.median / b.median)} of the process runner's`;
  record("tmux runner: deploy → running", versus(tmux.deploy, plain.deploy), "median ≤ 50 ms", tmux.deploy.median <= 50, { tmux: tmux.deploy, process: plain.deploy });
  record("tmux runner: kill → verified clean, session closed", versus(tmux.kill, plain.kill), "median ≤ 100 ms", tmux.kill.median <= 100, { tmux: tmux.kill, process: plain.kill });
  record("tmux runner: `true` from deploy to cleaned", versus(tmux.life, plain.life), "median ≤ 150 ms", tmux.life.median <= 150, { tmux: tmux.life, process: plain.life });
}

async function benchLifecycles(): Promise<void> {
  const count = 1000;
  const data = await withCorral({ maxAgentsPerTask: 100_000 }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench lifecycles" }));
    const once = async (): Promise<void> => {
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: ["true"] }));
      const done = await corral.whenCleaned(agent.id);
      if (done.cleanupStatus !== "done") throw new Error(`cleanup of ${agent.id} is ${done.cleanupStatus}`);
    };
    // Warm up first: the allocator's arenas and SQLite's page cache fill during the first
    // few hundred lifecycles, and growth after that is what would matter overnight.
    const warmup = 1000;
    for (let i = 0; i < warmup; i += 1) await once();
    const before = await resources();
    const t0 = performance.now();
    for (let i = 0; i < count; i += 1) await once();
    const seconds = (performance.now() - t0) / 1000;
    const after = await resources();
    return { warmup, count, seconds, perSecond: count / seconds, before, after };
  });
  const grew = data.after.fds - data.before.fds;
  record(
    "1,000 complete lifecycles in a row (after 1,000 to warm up)",
    `${round(data.perSecond, 1)}/s; fds ${data.before.fds}→${data.after.fds}, RSS ${round(data.before.rssMiB, 1)}→${round(data.after.rssMiB, 1)} MiB, heap used ${round(data.before.heapMiB, 1)}→${round(data.after.heapMiB, 1)} MiB (reserved ${round(data.before.heapTotalMiB, 1)}→${round(data.after.heapTotalMiB, 1)}), zombies ${data.before.zombies}→${data.after.zombies}`,
    "no growth in fds, zombies or heap used",
    grew <= 0 && data.after.zombies === 0 && data.after.heapMiB - data.before.heapMiB < 2,
    data,
  );
}

/** Agent rows straight into the store, as many as a figure needs, with the given tokens. */
function insertAgents(corral: Corral, task: { id: TaskId; workspace: string }, count: number, tokens: readonly string[] = []): AgentId[] {
  return withStore(corral.config.home, (store) => {
    const ids: AgentId[] = [];
    for (let i = 0; i < count; i += 1) {
      const id = `bench-000000-${i.toString(16).padStart(6, "0")}` as AgentId;
      unwrap(
        store.agents.insert(
          {
            id,
            taskId: task.id,
            type: "bench" as AgentType,
            parentId: null,
            backend: "command",
            runner: "process",
            prompt: "p",
            spec: {},
            cwd: "/",
            agentDir: join(task.workspace, "agents", id),
            logPath: join(task.workspace, "logs", `${id}.log`),
            mark: "none",
            tokenHash: tokens[i] === undefined ? null : hashToken(tokens[i] as string),
            owner: corral.owner,
            createdAt: Date.now(),
          },
          corral.config,
        ),
      );
      ids.push(id);
    }
    return ids;
  });
}

const MANY = { maxAgentsPerTask: 100_000, maxConcurrentAgents: 100_000 };

async function benchEventWrite(): Promise<void> {
  const agents = 10_000;
  const summary = await withCorral(MANY, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench events" }));
    const ids = insertAgents(corral, task, agents);
    const times: number[] = [];
    for (let i = 0; i < 5000; i += 1) {
      const id = ids[(i * 7919) % ids.length] as AgentId;
      const t0 = performance.now();
      unwrap(await corral.report(id, { kind: "progress", status: "bench", message: `event ${i}`, progress: i % 101 }));
      times.push(performance.now() - t0);
    }
    return summarize(times);
  });
  record(`progress event written, ${agents.toLocaleString("en")} agents in the store`, ms(summary), "median ≤ 0.5 ms", summary.median <= 0.5, summary);
}

async function benchStatus(): Promise<void> {
  const sizes = [10, 100, 1000];
  const results: Record<number, Summary> = {};
  for (const size of sizes) {
    results[size] = await withCorral(MANY, async (corral) => {
      const task = unwrap(corral.createTask({ description: `bench status ${size}` }));
      const ids = insertAgents(corral, task, size);
      for (let i = 0; i < 200; i += 1) {
        const id = ids[i % ids.length] as AgentId;
        const message = `m${i}`;
        unwrap(
          i % 4 === 0
            ? await corral.report(id, { kind: "finding", findingType: "bench", severity: "low", message })
            : await corral.report(id, { kind: "progress", status: "working", message }),
        );
      }
      const times: number[] = [];
      for (let i = 0; i < 50; i += 1) {
        const t0 = performance.now();
        JSON.stringify(unwrap(corral.status(task.id)));
        times.push(performance.now() - t0);
      }
      return summarize(times);
    });
  }
  const at = (n: number): Summary => results[n] as Summary;
  record(
    "get_real_task_status, 10 / 100 / 1,000 agents (read and serialised)",
    `median ${round(at(10).median)} / ${round(at(100).median)} / ${round(at(1000).median)} ms; ×${round(at(1000).median / at(100).median, 1)} from 100 to 1,000`,
    "≤ 10 ms at 1,000",
    at(1000).median <= 10,
    results,
  );
}

async function benchRoundTrip(): Promise<void> {
  const home = mkdtempSync(join(scratch, "serve-"));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [corralEntry(), "serve"],
    env: { ...(process.env as Record<string, string>), CORRAL_HOME: home, CORRAL_LOG_LEVEL: "warn" },
  });
  const client = new Client({ name: "corral-bench", version: "1" });
  await client.connect(transport);
  const times: number[] = [];
  try {
    for (let i = 0; i < 50; i += 1) await client.callTool({ name: "list_real_tasks", arguments: {} });
    for (let i = 0; i < 500; i += 1) {
      const t0 = performance.now();
      await client.callTool({ name: "list_real_tasks", arguments: {} });
      times.push(performance.now() - t0);
    }
  } finally {
    await client.close();
  }
  const summary = summarize(times);
  record("tool call round trip over stdio (list_real_tasks)", ms(summary), "median ≤ 2 ms", summary.median <= 2, summary);
}

async function benchAgentServers(): Promise<void> {
  const servers = 20;
  const each = 200;
  const data = await withCorral(MANY, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench agent servers" }));
    const tokens = Array.from({ length: servers }, () => newToken());
    // The agent servers are this process's children: it stands as their agents' root, which
    // is what an agent server requires to find among its ancestors.
    const self = readStat(process.pid);
    if (self === null) throw new Error("cannot read /proc/self/stat");
    const ids = insertAgents(corral, task, servers, tokens);
    withStore(corral.config.home, (store) => {
      for (const id of ids) store.runs.recordLaunch(id, { pid: process.pid, startTime: self.startTime, handle: null }, Date.now());
    });
    const clients = await Promise.all(
      tokens.map(async (token) => {
        const client = new Client({ name: "corral-bench-agent", version: "1" });
        await client.connect(
          new StdioClientTransport({
            command: process.execPath,
            args: [corralEntry(), "serve", "--agent"],
            env: { ...(process.env as Record<string, string>), CORRAL_HOME: corral.config.home, CORRAL_AGENT_TOKEN: token, CORRAL_LOG_LEVEL: "warn" },
          }),
        );
        return client;
      }),
    );
    let refused = 0;
    const t0 = performance.now();
    try {
      await Promise.all(
        clients.map(async (client, n) => {
          for (let i = 0; i < each; i += 1) {
            const result = await client.callTool({ name: "update_agent_progress", arguments: { status: "bench", message: `${n}:${i}`, progress: i % 101 } });
            if (result.isError === true) refused += 1;
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
    const seconds = (performance.now() - t0) / 1000;
    const stored = withStore(corral.config.home, (store) => store.events.forTask(task.id, 0, 1_000_000).length);
    return { servers, each, seconds, perSecond: (servers * each) / seconds, stored, lost: servers * each - stored, refused };
  });
  record(
    `progress updates from ${servers} agent servers at once`,
    `${Math.round(data.perSecond).toLocaleString("en")} updates/s, ${data.lost} lost`,
    "0 lost",
    data.lost === 0 && data.refused === 0,
    data,
  );
}

async function benchWriters(): Promise<void> {
  const writers = 8;
  const each = 2000;
  const data = await withCorral({}, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench writers" }));
    const ids: AgentId[] = [];
    for (let i = 0; i < 4; i += 1) {
      ids.push(unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER })).id);
    }
    const script = join(import.meta.dirname, "workers", "writer.js");
    const procs = Array.from({ length: writers }, () =>
      spawn(process.execPath, [script, corral.config.home, String(each), ...ids], { stdio: ["pipe", "pipe", "inherit"] }),
    );
    const outputs = procs.map(
      (p) =>
        new Promise<{ start: number; end: number; failures: number }>((resolve, reject) => {
          let text = "";
          p.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()));
          p.once("close", (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`writer exited ${code}`))));
        }),
    );
    await sleep(1500);
    for (const p of procs) p.stdin.end("go\n");
    const results = await Promise.all(outputs);
    const seconds = (Math.max(...results.map((r) => r.end)) - Math.min(...results.map((r) => r.start))) / 1000;
    const stored = withStore(corral.config.home, (store) => store.events.forTask(task.id, 0, 1_000_000).length);
    for (const id of ids) unwrap(await corral.kill(id));
    const failures = results.reduce((n, r) => n + r.failures, 0);
    return { writers, each, seconds, perSecond: (writers * each) / seconds, stored, lost: writers * each - stored, failures };
  });
  record(
    `${writers} writer processes at once`,
    `${Math.round(data.perSecond).toLocaleString("en")} events/s, ${data.lost} lost`,
    "≥ 5,000 events/s, 0 lost",
    data.perSecond >= 5000 && data.lost === 0 && data.failures === 0,
    data,
  );
}

/** `corral serve` as an MCP client starts it, with `count` sleeping agents deployed through it. */
async function serveWithAgents(home: string, count: number, env: Record<string, string> = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [corralEntry(), "serve"],
    env: {
      ...(process.env as Record<string, string>),
      CORRAL_HOME: home,
      CORRAL_LOG_LEVEL: "warn",
      CORRAL_MAX_CONCURRENT_AGENTS: "1000",
      CORRAL_MAX_AGENTS_PER_TASK: "1000",
      ...env,
    },
  });
  const client = new Client({ name: "corral-bench", version: "1" });
  await client.connect(transport);
  const created = await client.callTool({ name: "create_real_task", arguments: { description: "bench" } });
  const taskId = (created.structuredContent as { task_id: string }).task_id;
  const pids: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const deployed = await client.callTool({
      name: "deploy_headless_agent",
      arguments: { task_id: taskId, agent_type: "bench", prompt: "p", command: ["sleep", "600"] },
    });
    pids.push((deployed.structuredContent as { pid: number }).pid);
  }
  return { client, pid: transport.pid as number, pids };
}

/** MCP pings, one after another, each timed from send to answer. */
async function pings(client: Client, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const t0 = performance.now();
    await client.ping();
    times.push(performance.now() - t0);
  }
  return times;
}

/**
 * How fast `corral serve` answers a ping while work that used to stall it goes on: another
 * process holding the database's write lock (while calls that must write, a kill and an
 * agent's exit arrive), and get_agent_output calls with a catastrophic-backtracking filter.
 */
async function benchStall(): Promise<void> {
  const home = mkdtempSync(join(scratch, "stall-"));
  const { client } = await serveWithAgents(home, 0);
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })).structuredContent as Record<string, unknown>;
  try {
    const taskId = ((await call("list_real_tasks", {})).tasks as { taskId: string }[])[0]?.taskId as string;
    const printer = await call("deploy_headless_agent", {
      task_id: taskId,
      agent_type: "printer",
      prompt: "p",
      command: ["bash", "-c", `yes '${"a".repeat(28)}!' | head -n 300000`],
    });
    const victims = [];
    for (let i = 0; i < 3; i += 1) victims.push(await call("deploy_headless_agent", { task_id: taskId, agent_type: "victim", prompt: "p", command: ["sleep", "600"] }));
    const gate = join(home, "go");
    const quitter = await call("deploy_headless_agent", {
      task_id: taskId,
      agent_type: "quitter",
      prompt: "p",
      command: ["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.01; done; exit 7`],
    });
    await call("wait_for_agents", { task_id: taskId, agent_ids: [printer.agent_id], timeout_s: 60 });
    await pings(client, 50);
    const idle = summarize(await pings(client, 500));

    const holder = spawn(process.execPath, [join(import.meta.dirname, "..", "test", "fixtures", "workers", "hold-lock.js"), join(home, "corral.db")], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise((resolve) => holder.stdout?.once("data", resolve));
    writeFileSync(gate, "");
    // While the pings run: a deploy, a report of the lock in status, kills and an exit, none of which can be written.
    const busy = Promise.all([
      call("deploy_headless_agent", { task_id: taskId, agent_type: "late", prompt: "p", command: ["sleep", "600"] }),
      call("get_real_task_status", { task_id: taskId }),
      ...victims.map((v) => client.callTool({ name: "kill_real_agent", arguments: { task_id: taskId, agent_id: v.agent_id } })),
    ]);
    const locked = summarize(await pings(client, 500));
    await busy;
    holder.stdin?.end();
    await new Promise((resolve) => holder.once("exit", resolve));

    let filtering = true;
    let filterCalls = 0;
    const filters = (async () => {
      while (filtering) {
        await client.callTool({ name: "get_agent_output", arguments: { task_id: taskId, agent_id: printer.agent_id, filter: "(a+)+$" } });
        filterCalls += 1;
      }
    })();
    await pings(client, 20);
    const filtered = summarize(await pings(client, 500));
    filtering = false;
    await filters;
    await call("wait_for_agents", { task_id: taskId, agent_ids: [quitter.agent_id], timeout_s: 10 });

    const show = (s: Summary): string => `median ${round(s.median)} ms, p99 ${round(s.p99)} ms (max ${round(s.max)}, n=${s.n})`;
    record("MCP ping over stdio, idle", show(idle), "p99 ≤ 100 ms", idle.p99 <= 100, idle);
    record("MCP ping while another process holds the write lock", show(locked), "p99 ≤ 100 ms", locked.p99 <= 100, locked);
    record("MCP ping during get_agent_output calls with filter (a+)+$ on 300,000 lines", show(filtered), "p99 ≤ 100 ms", filtered.p99 <= 100, {
      ...filtered,
      filterCalls,
    });
  } finally {
    await client.close();
    rmSync(home, { recursive: true, force: true });
  }
}

async function gone(pid: number): Promise<void> {
  while (readStat(pid) !== null && readStat(pid)?.state !== "Z") await sleep(5);
}

async function benchRecovery(): Promise<void> {
  const results: Record<string, number> = {};
  for (const orphans of ["adopt", "terminate"] as const) {
    for (const count of [10, 100]) {
      const home = mkdtempSync(join(scratch, "recover-"));
      const { client, pid } = await serveWithAgents(home, count);
      process.kill(pid, "SIGKILL");
      await gone(pid);
      await client.close();
      const corral = unwrap(
        Corral.open({ ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), orphans }, createLogger("silent"), { watch: false }),
      );
      const t0 = performance.now();
      const report = await corral.reconcile();
      results[`${orphans} ${count}`] = performance.now() - t0;
      const handled = orphans === "adopt" ? report.adopted.length : report.terminated.length;
      if (handled !== count) throw new Error(`reconcile handled ${handled} of ${count} agents`);
      // Shutdown hands adopted agents back rather than killing them: stop them here.
      await Promise.all(report.adopted.map((id) => corral.kill(id, "bench over")));
      await corral.shutdown("bench over");
      rmSync(home, { recursive: true, force: true });
    }
  }
  const at = (key: string): number => round(results[key] as number);
  record(
    "recovery after kill -9: adopt / terminate, 10 and 100 agents",
    `adopt ${at("adopt 10")} / ${at("adopt 100")} ms; terminate ${at("terminate 10")} / ${at("terminate 100")} ms`,
    "≤ 2 s at 100",
    (results["adopt 100"] as number) <= 2000 && (results["terminate 100"] as number) <= 2000,
    results,
  );
}

async function benchShutdown(): Promise<void> {
  const home = mkdtempSync(join(scratch, "shutdown-"));
  const { client, pid, pids } = await serveWithAgents(home, 20);
  const t0 = performance.now();
  process.kill(pid, "SIGTERM");
  await gone(pid);
  const took = performance.now() - t0;
  await client.close();
  const survivors = pids.filter((p) => readStat(p) !== null && readStat(p)?.state !== "Z").length;
  rmSync(home, { recursive: true, force: true });
  record("shutdown on SIGTERM with 20 agents", `${Math.round(took)} ms, ${survivors} survivors`, "≤ 3,000 ms deadline, 0 survivors", took <= 3000 && survivors === 0, {
    ms: took,
    survivors,
  });
}

async function benchGc(): Promise<void> {
  const count = 10_000;
  const data = await withCorral({ ...MANY, retentionDays: 30 }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench gc" }));
    const ids = insertAgents(corral, task, count);
    const db = new Database(join(corral.config.home, "corral.db"));
    const archive = db.prepare("UPDATE agents SET status = 'completed', cleanup_status = 'done', slot_held = 0, archive_path = ?, ended_at = ? WHERE id = ?");
    const now = Date.now();
    db.transaction(() => {
      ids.forEach((id, i) => {
        const path = join(task.workspace, "archive", `${id}.log.gz`);
        writeFileSync(path, "x".repeat(100));
        // Half ended 60 days ago, past the 30-day retention.
        archive.run(path, now - (i % 2 === 0 ? 60 : 1) * 86_400_000, id);
      });
    })();
    db.close();
    const t0 = performance.now();
    const report = corral.gc();
    const ms = performance.now() - t0;
    return { count, ms, deleted: report.archivesDeleted.length };
  });
  record(
    `gc over ${count.toLocaleString("en")} archived agents`,
    `${Math.round(data.ms)} ms, ${data.deleted.toLocaleString("en")} expired archives deleted`,
    "≤ 5 s",
    data.ms <= 5000 && data.deleted === count / 2,
    data,
  );
}

const BENCHES: Readonly<Record<string, () => Promise<void>>> = {
  kill: benchKill,
  deploy: benchDeploy,
  runners: benchRunners,
  lifecycles: benchLifecycles,
  events: benchEventWrite,
  writers: benchWriters,
  roundtrip: benchRoundTrip,
  stall: benchStall,
  status: benchStatus,
  agentservers: benchAgentServers,
  recovery: benchRecovery,
  shutdown: benchShutdown,
  gc: benchGc,
};

/** `npm run bench -- status gc` runs those alone; no names runs every one. */
async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench ${unknown.join(", ")}; the benches are ${Object.keys(BENCHES).join(", ")}\n`);
    process.exit(1);
  }
  process.stderr.write(`corral bench on ${cpus().length} cores, node ${process.version}\n`);
  try {
    for (const [name, bench] of Object.entries(BENCHES)) if (only.length === 0 || only.includes(name)) await bench();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write("\n");
  for (const row of rows) {
    const verdict = row.met === null ? "" : row.met ? "  ✓" : "  ✗ MISSED";
    process.stdout.write(`${row.name.padEnd(width)}  ${row.figure}   [target: ${row.target}]${verdict}\n`);
  }
  const dir = join(import.meta.dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const json = JSON.stringify({ at: new Date().toISOString(), node: process.version, cores: cpus().length, rows, figures: report }, null, 2);
  writeFileSync(join(dir, `bench-${stamp}.json`), json);
  writeFileSync(join(dir, "latest.json"), json);
  process.stdout.write(`\nJSON report: bench/results/bench-${stamp}.json\n`);
}

await main();
