import { join } from "node:path";
import { BACKEND_SECTIONS } from "../../src/backends/registry.js";
import type { ExitStatus } from "../../src/domain/agent-state.js";
import { parseCleanupClaim, type CleanupClaim } from "../../src/domain/cleanup-state.js";
import { resolveConfig, type Config } from "../../src/domain/config.js";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../../src/domain/ids.js";
import type { Limits } from "../../src/domain/limits.js";
import type { ProcessUsage } from "../../src/domain/resource-limits.js";
import type { CompletionEvidence } from "../../src/domain/validation.js";
import type { PendingEnding } from "../../src/lifecycle/pending-records.js";
import type { NewAgent } from "../../src/store/agents.js";
import type { StartedProcess } from "../../src/store/runs.js";
import type { NewTask } from "../../src/store/tasks.js";
import type { AgentRecord, CleanupStepRecord } from "../../src/store/records.js";
import type { AgentScope } from "../../src/supervisor/discover.js";
import type { ProcStat } from "../../src/supervisor/procfs.js";
import type { Sample } from "../../soak/metrics.js";

/**
 * Test data, each builder a valid value of its kind with the plainest content; a test passes
 * only what its rule is about, so that what a test changes is what it checks.
 */

const TASK = "TASK-20260101-000000-00000001" as TaskId;
const AGENT = "w-000000-000001" as AgentId;

/** The task a store test's agents belong to, as agentRow takes it. */
export const TEST_TASK = { id: TASK, workspace: "/w" } as const;

/** Anti-spiral limits with room for every agent a store test inserts. */
export const ROOMY_LIMITS: Limits = { maxConcurrentAgents: 10, maxAgentsPerTask: 10, maxDepth: 2, maxChildrenPerParent: 2 };

/** A task row as createTask would insert it. */
export function taskRow(overrides: Partial<NewTask> = {}): NewTask {
  return { ...TEST_TASK, description: "d", priority: "normal", context: {}, createdAt: 1, ...overrides };
}

/**
 * An agent row as a deploy would insert it before launching: a command agent of `task`, in
 * its workspace, with no process yet. Tests change what their rule is about.
 */
export function agentRow(
  task: { readonly id: TaskId; readonly workspace: string },
  owner: NewAgent["owner"],
  overrides: Partial<NewAgent> & { readonly id: AgentId },
): NewAgent {
  const type = overrides.id.split("-")[0] as AgentType;
  return {
    taskId: task.id,
    type,
    parentId: null,
    backend: "command",
    runner: "process",
    prompt: "p",
    spec: {},
    cwd: task.workspace,
    agentDir: join(task.workspace, "agents", overrides.id),
    logPath: join(task.workspace, "logs", `${overrides.id}.log`),
    mark: "none",
    tokenHash: null,
    toolsUrl: null,
    createdAt: Date.now(),
    owner,
    ...overrides,
  };
}

/** A cleanup claim of `claimer` with a nonce (hex) the test names, so it can name it again. */
export function cleanupClaim(nonce: string, claimer: { readonly pid: number; readonly startTime: string } = { pid: 1, startTime: "1" }): CleanupClaim {
  return unwrap(parseCleanupClaim(`${claimer.pid}:${claimer.startTime}:${nonce}`));
}

/** What a launch records of the process it started; a null handle keeps the one already recorded. */
export function startedProcess(pid: number, startTime: string, handle: unknown = null): StartedProcess {
  return { pid, startTime, handle };
}

/** The launch record of a live process read from /proc, for a test that stands in for an agent. */
export function launchOf(stat: ProcStat, handle: unknown = null): StartedProcess {
  return startedProcess(stat.pid, stat.startTime, handle);
}

/**
 * An agent as the store gives it back: a command agent that started at `startedAt` (1,000 ms)
 * and is running, with no output, no report and no flag yet.
 */
export function agentRecord(overrides: Partial<AgentRecord> = {}): AgentRecord {
  const id = overrides.id ?? AGENT;
  const process = overrides.process === undefined ? { pid: 100, startTime: "1" } : overrides.process;
  return {
    id,
    taskId: TASK,
    type: id.split("-")[0] as AgentType,
    backend: "command",
    runner: "process",
    status: "running",
    reason: null,
    parentId: null,
    depth: 0,
    progress: null,
    lastMessage: null,
    eventCount: 0,
    pid: process?.pid ?? null,
    exit: null,
    cleanupStatus: "pending",
    createdAt: 1_000,
    startedAt: 1_000,
    endedAt: null,
    claimedDone: false,
    validation: null,
    stuckSince: null,
    limitWarnings: [],
    prompt: "p",
    spec: {},
    cwd: "/w",
    agentDir: `/w/agents/${id}`,
    logPath: `/w/logs/${id}.log`,
    archivePath: null,
    transcriptPath: null,
    mark: "m",
    owner: { pid: 1, startTime: "1" },
    process,
    handle: null,
    toolsUrl: null,
    slotHeld: true,
    lastEventAt: null,
    cleanupClaim: null,
    cleanupAttempts: 0,
    cleanedAt: null,
    stream: {
      sessionId: null,
      model: null,
      corralConnected: null,
      costUsd: null,
      inputTokens: 0,
      outputTokens: 0,
      numTurns: null,
      toolCalls: 0,
      denials: 0,
      errors: 0,
      offset: 0,
      result: null,
    },
    ...overrides,
  };
}

/** The defaults every corral starts from, with the settings a rule is about. */
export function config(overrides: Partial<Config> = {}): Config {
  return { ...unwrap(resolveConfig({}, null, "/home/test", BACKEND_SECTIONS)), ...overrides };
}

/** What a process of an agent uses: nothing worth a warning. */
export function usage(overrides: Partial<ProcessUsage> = {}): ProcessUsage {
  return { pid: 100, openFiles: 3, addressSpaceMb: 10, residentMb: 5, cpuSeconds: 0, ...overrides };
}

/** The evidence of an agent that did everything asked of it: exit 0, reports, a result, changes. */
export function completionEvidence(overrides: Partial<CompletionEvidence> = {}): CompletionEvidence {
  return {
    status: "completed",
    exit: { kind: "exited", code: 0 },
    claimedDone: true,
    progressReports: 3,
    findings: 1,
    filesChanged: 2,
    streamed: true,
    result: { isError: false, text: "done" },
    corralConnected: true,
    ...overrides,
  };
}

/** One step of a cleanup as recorded: ok, in the first attempt. */
export function cleanupStep(step: string, overrides: Partial<CleanupStepRecord> = {}): CleanupStepRecord {
  return { agentId: AGENT, attempt: 1, step, outcome: "ok", detail: {}, error: null, startedAt: 1, durationMs: 1, ...overrides };
}

/** How a process ended: by exit with `code`. */
export const exited = (code: number): ExitStatus => ({ kind: "exited", code });

/** How a process ended: killed by `signal`. */
export const signalled = (signal: string): ExitStatus => ({ kind: "signalled", signal });

/** An end the database refused, as the journal keeps it: the agent failed with exit 1. */
export function pendingEnding(agentId: string, at: number, exit: ExitStatus = exited(1)): PendingEnding {
  return { kind: "ending", agentId, status: "failed", reason: null, exit, at, stopped: null };
}

/** Where an agent's processes are looked for: from its root, by session, without tini or a cgroup. */
export function agentScope(root: { readonly pid: number; readonly startTime: string }, overrides: Partial<AgentScope> = {}): AgentScope {
  return { root, sid: root.pid, subreaper: false, mark: "CORRAL_MARK=none", cgroup: null, ...overrides };
}

/** Lines of claude's stream-json output, as `claude -p --output-format stream-json` writes them. */
export const claudeLine = {
  /** The first line: the session, the model and how each MCP server connected. */
  init(overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({ type: "system", subtype: "init", session_id: "s-1", model: "m", mcp_servers: [], tools: [], ...overrides });
  },
  /** The last line of a run that succeeded. */
  result(overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({
      type: "result",
      subtype: "success",
      is_error: false,
      result: "done",
      session_id: "s-1",
      total_cost_usd: 0.01,
      num_turns: 1,
      ...overrides,
    });
  },
};

/** A soak's samples, one every 10 s, each metric's value given per sample (the rest zero). */
export function soakSamples(values: Partial<Record<keyof Sample, readonly number[]>>): Sample[] {
  const length = Math.max(...Object.values(values).map((v) => v.length));
  return Array.from({ length }, (_, i): Sample => {
    const sample: Record<string, number> = {
      t: i * 10, lifecycles: 0, inFlight: 0, cpuPct: 0, cleanupsPartial: 0, pendingEnds: 0, fds: 0, rssKiB: 0, pssKiB: 0, threads: 0,
      cpuTicks: 0, dbBytes: 0, walBytes: 0, stateBytes: 0, stateLessDbBytes: 0, processes: 0, tmuxServers: 0, zombies: 0, cgroups: 0,
    };
    for (const [key, list] of Object.entries(values)) sample[key] = list[i] as number;
    return sample as unknown as Sample;
  });
}
