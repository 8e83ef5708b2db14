import { statfsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { describeUnknown } from "../domain/errors.js";
import { lineParser, type Backend } from "../backends/backend.js";
import { isTerminal } from "../domain/agent-state.js";
import { validateCompletion } from "../domain/validation.js";
import type { Runners } from "../runners/registry.js";
import { stillRunning, type ProcessIdentity } from "../runners/host.js";
import type { AgentHandle, TerminationReport } from "../runners/runner.js";
import type { AgentRecord, CleanupStepRecord, StepOutcome } from "../store/records.js";
import { isUnwritable } from "../store/database.js";
import type { Store } from "../store/store.js";
import { archiveLog } from "./archive.js";
import { failpoint } from "./failpoints.js";
import { countFilesChanged } from "./files-changed.js";
import { handleOf } from "./handles.js";
import type { StreamFollower } from "./stream-follower.js";
import type { Workspaces } from "./workspace.js";

export const CLEANUP_STEPS = [
  "terminate",
  "verify",
  "close_session",
  "record_outcome",
  "archive_log",
  "delete_temp_files",
  "release_slot",
] as const;
export type CleanupStep = (typeof CLEANUP_STEPS)[number];

const LAUNCH_WAIT_MS = 5000;
/** Less free space than this, and the last writes of an agent may have failed. */
const DISK_FULL_BYTES = 64 * 1024;

export interface CleanupContext {
  readonly store: Store;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly streams: StreamFollower;
  readonly runners: Runners;
  readonly workspaces: Workspaces;
  readonly graceMs: number;
  readonly logger: Logger;
  /** Whether the disk ran full (the ballast was spent) since space was last reserved. */
  readonly diskRanFull: () => boolean;
  /** Runs a write, waiting (event loop free) while the database refuses it; throws only if corral closes first. */
  readonly persist: <T>(write: () => T) => Promise<T>;
  /** Resolves true once the database takes writes again, false if corral closes first. */
  readonly whenWritable: () => Promise<boolean>;
}

interface StepResult {
  readonly outcome: StepOutcome;
  readonly detail: Record<string, unknown>;
  readonly error: string | null;
}

const describe = (list: readonly ProcessIdentity[]): string => list.map((p) => p.pid).join(", ");

/**
 * Runs the given steps in order. Each runs even when an earlier one failed and records its
 * own outcome, so one stuck step never hides or blocks the others.
 */
export async function runCleanup(
  ctx: CleanupContext,
  agent: AgentRecord,
  attempt: number,
  steps: readonly CleanupStep[],
  /** What was stopped before the end could be recorded (the database refused it then). */
  stoppedEarlier: { readonly signalled: readonly number[]; readonly survivors: readonly number[] } | null = null,
): Promise<"done" | "partial"> {
  const runner = ctx.runners.get(agent.runner);
  let handle: AgentHandle = handleOf(runner, agent);
  let report: TerminationReport | null = null;
  let survivors: ProcessIdentity[] | null = null;

  const run: Record<CleanupStep, () => Promise<StepResult>> = {
    terminate: async () => {
      // A launch that never got recorded (its corral died mid-deploy), or that failed, may
      // still have started something: its handle names it by its mark (and cgroup) then.
      if (agent.process === null) handle = handleOf(runner, await launchFinished(ctx, agent));
      report = await runner.stop(handle, { graceMs: ctx.graceMs });
      const detail = { ...report, ...(stoppedEarlier === null ? {} : { stoppedBeforeRecorded: stoppedEarlier }) };
      if (report.survivors.length > 0) return failed(detail, `processes survived termination: ${describe(report.survivors)}`);
      return { outcome: "ok", detail, error: null };
    },
    verify: async () => {
      const gone = runner.verifyGone(handle, report);
      const { method, blindSpots } = gone;
      survivors = gone.survivors;
      if (survivors.length > 0) return failed({ method, survivors, blindSpots }, `processes still running: ${describe(survivors)}`);
      // The empty cgroup goes too; the proof that it was empty is that the kernel let it go.
      const detail = { method, survivors: [], blindSpots, ...(gone.removed === null ? {} : { cgroup: gone.removed }) };
      if (gone.removed?.error != null) return failed(detail, gone.removed.error);
      return { outcome: "ok", detail, error: null };
    },
    close_session: async () => {
      // After the processes, before the log is read: a tmux log pipe drains as it closes.
      const released = await runner.release(handle);
      if (released.outcome === "none") return skipped(`the ${runner.kind} runner holds nothing besides processes`);
      if (released.outcome === "failed") return failed(released.detail, released.message);
      return { outcome: "ok", detail: released.detail, error: null };
    },
    record_outcome: async () => {
      // The log is complete once the processes are gone: read the rest of its stream, then
      // weigh the evidence that the agent did its work.
      const backend = ctx.backends.get(agent.backend);
      const parseLine = lineParser(backend);
      if (parseLine !== null) ctx.streams.drain(agent.id, parseLine);
      const current = ctx.store.agents.get(agent.id) ?? agent;
      if (!isTerminal(current.status)) return failed({}, `the agent is ${current.status}, not ended`);
      // The CLI's own transcript stays as long as the archive (resuming the session needs it)
      // and goes with it: gc removes what is recorded here.
      const sessionId = current.stream.sessionId;
      const transcript = sessionId === null || backend?.transcripts.kept !== true ? null : backend.transcripts.locate(current.cwd, sessionId);
      if (transcript !== null) ctx.store.outcomes.setTranscript(agent.id, transcript);
      const counts = ctx.store.events.countsFor(agent.id);
      const validation = validateCompletion({
        status: current.status,
        exit: current.exit,
        claimedDone: current.claimedDone,
        progressReports: counts.progress ?? 0,
        findings: counts.finding ?? 0,
        filesChanged: current.startedAt === null ? null : countFilesChanged(current.cwd, current.startedAt),
        streamed: parseLine !== null,
        result: current.stream.result,
        corralConnected: current.stream.corralConnected,
      });
      // A full disk cuts an agent's log short without anyone seeing an error: say so.
      const stats = statfsSync(ctx.workspaces.root);
      const full = ctx.diskRanFull() || stats.bavail * stats.bsize < DISK_FULL_BYTES;
      const marked = full ? { ...validation, warnings: [...validation.warnings, "the disk under the state dir was full when it ended: its log may be cut short"] } : validation;
      ctx.store.outcomes.setValidation(agent.id, marked);
      return { outcome: "ok", detail: { confidence: marked.confidence, warnings: marked.warnings, transcript }, error: null };
    },
    archive_log: async () => {
      const running: ProcessIdentity[] = survivors ?? [];
      if (running.length > 0) {
        return failed({ kept: agent.logPath }, `the log is kept while processes still run: ${describe(running)}`);
      }
      // Paths come from the layout, not the row, so a damaged row cannot aim the step elsewhere.
      const paths = ctx.workspaces.agentPaths(agent.taskId, agent.id);
      if (!paths.ok) return failed({}, paths.error.message);
      const result = await archiveLog(paths.value.log, paths.value.archive);
      ctx.store.outcomes.setArchive(agent.id, paths.value.archive);
      return { outcome: "ok", detail: { archive: paths.value.archive, ...result }, error: null };
    },
    delete_temp_files: async () => {
      const removed = ctx.workspaces.removeAgentDir(agent.taskId, agent.agentDir);
      if (!removed.ok) return failed({}, removed.error.message);
      const relay = ctx.workspaces.removeRelayDir(agent.id);
      if (!relay.ok) return failed({}, relay.error.message);
      return { outcome: "ok", detail: { removed: agent.agentDir }, error: null };
    },
    release_slot: async () => ({
      outcome: "ok",
      detail: { released: ctx.store.agents.releaseSlot(agent.id) },
      error: null,
    }),
  };

  let allOk = true;
  for (const step of steps) {
    const startedAt = Date.now();
    const t0 = performance.now();
    let result: StepResult | null = null;
    while (result === null) {
      try {
        result = await run[step]();
      } catch (cause) {
        // A step that writes waits out a locked database and runs again (every step can).
        if (isUnwritable(cause) && (await ctx.whenWritable())) continue;
        result = failed({}, describeUnknown(cause));
      }
    }
    if (result.outcome === "failed") allOk = false;
    const outcome = result;
    await ctx.persist(() =>
      ctx.store.cleanupSteps.record({
        agentId: agent.id,
        attempt,
        step,
        ...outcome,
        startedAt,
        durationMs: performance.now() - t0,
      }),
    );
    if (result.outcome === "failed") ctx.logger.warn({ agent: agent.id, step, error: result.error }, "cleanup step failed");
    failpoint(`cleanup:after-${step}`);
  }
  return allOk ? "done" : "partial";
}

/**
 * An agent killed from another process while its owner was launching it has no process on
 * record yet: wait (briefly, and only while the owner lives) for the launch to finish.
 */
async function launchFinished(ctx: CleanupContext, agent: AgentRecord): Promise<AgentRecord> {
  const deadline = performance.now() + LAUNCH_WAIT_MS;
  let current = agent;
  while (current.startedAt === null && stillRunning(current.owner) && performance.now() < deadline) {
    await sleep(5);
    current = ctx.store.agents.get(agent.id) ?? current;
  }
  return current;
}

/**
 * The steps a retry runs: those that failed in the last attempt (earlier failures were retried
 * then), in cleanup order, with terminate and verify kept together.
 */
export function stepsToRetry(recorded: readonly Pick<CleanupStepRecord, "attempt" | "step" | "outcome">[], lastAttempt: number): CleanupStep[] {
  const again = new Set(recorded.filter((s) => s.attempt === lastAttempt && s.outcome === "failed").map((s) => s.step));
  if (again.has("terminate") || again.has("verify")) {
    again.add("terminate");
    again.add("verify");
  }
  return CLEANUP_STEPS.filter((step) => again.has(step));
}

function skipped(reason: string): StepResult {
  return { outcome: "skipped", detail: { reason }, error: null };
}

function failed(detail: Record<string, unknown>, error: string): StepResult {
  return { outcome: "failed", detail, error };
}
