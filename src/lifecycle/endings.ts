import { statusForExit, type ExitStatus } from "../domain/agent-state.js";
import type { CleanupClaim } from "../domain/cleanup-state.js";
import { CorralFailure, describeUnknown, type CorralError } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";
import { isUnwritable } from "../store/database.js";
import { CLEANUP_STEPS, runCleanup, stepsToRetry, type CleanupContext, type CleanupStep } from "./cleanup.js";
import { WRITABLE_POLL_MS, type Core } from "./core.js";
import type { PendingEnding } from "./pending-records.js";

/**
 * How long an agent's end waits for the database (event loop free) before it is kept in the
 * journal instead: long enough that another corral's ordinary writes never send it there.
 */
const END_WRITE_WAIT_MS = 250;

export type Ending = { status: "completed" | "failed" | "killed" | "crashed" | "timed_out"; reason: string | null; exit: ExitStatus | null };

/** An end the database refused: kept in the journal, the agent's processes stopped all the same. */
export interface Deferred {
  readonly stopped: { signalled: number[]; survivors: number[] };
  /** Whether it was recorded right after the stop (the lock's holder may have been the agent itself). */
  readonly recordedSince: boolean;
  readonly error: CorralError;
}

/**
 * How agents end: the terminal transition (won by exactly one caller, across processes, who
 * then runs the cleanup), exits seen by their launcher or their adopter, and ends the database
 * refused, kept in the journal and recorded once it takes writes.
 */
export class Endings {
  private pendingTimer: NodeJS.Timeout | null = null;
  private recording: Promise<number> | null = null;
  /** The store's change mark when the last look found no partial cleanup. */
  private nonePartialAt: string | null = null;

  constructor(private readonly core: Core) {}

  /** The launched process exited with `exit`. */
  async onExit(id: AgentId, exit: ExitStatus): Promise<void> {
    const { core } = this;
    // When it ended, not when that could be written: a kill that comes while the database
    // refuses the exit must be replayed after it, and lose to it.
    const seenAt = Date.now();
    const reason =
      exit.kind === "signalled" && exit.signal === "SIGXCPU"
        ? `it used up its CPU time limit (agentCpuSeconds=${core.config.agentCpuSeconds})`
        : null;
    const ending: Ending = { status: statusForExit(exit), reason, exit };
    // After close the store is closed: the exit is kept in the journal for the next corral.
    // An exit that follows a kill still waiting in the journal (the kill caused it) queues
    // behind the kill, so the agent ends killed, with this exit status.
    if (core.closed && !core.unended.has(id)) return;
    if (core.closed || core.pending.hasAgent(id)) {
      await core.pending.add({ kind: "ending", agentId: id, ...ending, at: seenAt, stopped: null });
      this.schedulePending();
      return;
    }
    const recorded = await core.store.writeSoon(() => core.store.runs.recordExit(id, exit), Date.now() + END_WRITE_WAIT_MS);
    if (!recorded.ok) {
      await this.defer(id, ending, seenAt, recorded.error);
      return;
    }
    await this.end(id, ending);
  }

  /**
   * An agent's process is gone and its exit status with it (only a parent can read it): its
   * stream's final result, when it has one, tells how it ended.
   */
  async onLostExit(id: AgentId, why: string): Promise<void> {
    const { core } = this;
    if (core.closed) return;
    const agent = core.store.agents.get(id);
    if (agent === null) return;
    const parseLine = core.parserOf(agent);
    // Its stream decides how it ended: reading it ends in a write, which waits out a lock.
    while (parseLine !== null) {
      try {
        core.streams.drain(id, parseLine);
        break;
      } catch (cause) {
        if (!isUnwritable(cause) || !(await core.whenWritable())) throw cause;
      }
    }
    const result = core.store.agents.get(id)?.stream.result ?? null;
    await this.end(id, {
      status: result === null || result.isError ? "failed" : "completed",
      reason: result === null ? `its exit status was lost: ${why}` : null,
      exit: null,
    });
  }

  /** The terminal transition; the winner runs the cleanup. False for everyone else. */
  async end(id: AgentId, ending: Ending): Promise<boolean> {
    // Whoever ends it, an ended agent's tools are no longer served by this process.
    this.core.relays.close(id);
    const outcome = await this.endOrDefer(id, ending);
    return outcome === "won" || (outcome !== "lost" && outcome.recordedSince);
  }

  /**
   * The terminal transition, or, when the database refuses it, the end kept in the journal
   * and the agent's processes stopped all the same: nothing that ends an agent waits on the
   * database.
   */
  async endOrDefer(id: AgentId, ending: Ending): Promise<"won" | "lost" | Deferred> {
    const { core } = this;
    const claim = core.newClaim();
    const at = Date.now();
    // An end already waiting in the journal came first: this one waits behind it.
    if (core.pending.hasAgent(id)) return this.defer(id, ending, at, core.store.lockedError());
    const won = await core.store.writeSoon(() => core.store.runs.end(id, { ...ending, at, claim }), Date.now() + END_WRITE_WAIT_MS);
    if (!won.ok) return this.defer(id, ending, at, won.error);
    core.unended.delete(id);
    if (!won.value) return "lost";
    await this.track(id, this.cleanup(id, claim, CLEANUP_STEPS));
    return "won";
  }

  /**
   * Keeps an end the database refused in the journal (durably, first), stops the agent's
   * processes and verifies they are gone, and tries once more to record: the process that held
   * the lock may have been one of them.
   */
  private async defer(id: AgentId, ending: Ending, at: number, error: CorralError): Promise<Deferred> {
    const { core } = this;
    const record: PendingEnding = { kind: "ending", agentId: id, ...ending, at, stopped: null };
    const name = await core.pending.add(record);
    core.logger.warn({ agent: id, status: ending.status, why: error.message }, "the database refused an agent's end: kept in the journal");
    const stopped = await this.stopUnrecorded(id);
    await core.pending.update(name, { ...record, stopped });
    this.schedulePending();
    await this.recordPending();
    // A pass already under way may have listed the journal before this end was in it.
    if (core.pending.has(name) && core.store.writableNow()) await this.recordPending();
    return { stopped, recordedSince: !core.pending.has(name), error };
  }

  /** Signals an agent's processes and verifies they are gone, recording nothing (see defer). */
  private async stopUnrecorded(id: AgentId): Promise<Deferred["stopped"]> {
    const agent = this.core.store.agents.get(id);
    if (agent === null || agent.process === null) return { signalled: [], survivors: [] };
    const { runner, handle } = this.core.handleOf(agent);
    const report = await runner.stop(handle, { graceMs: this.core.graceMs });
    return { signalled: report.signalled.map((p) => p.pid), survivors: report.survivors.map((p) => p.pid) };
  }

  private schedulePending(): void {
    if (this.pendingTimer !== null || this.core.closed) return;
    this.pendingTimer = setInterval(() => {
      void this.recordPending().catch((cause: unknown) =>
        this.core.logger.error({ err: describeUnknown(cause) }, "recording the journal's pending ends failed"),
      );
    }, WRITABLE_POLL_MS);
    this.pendingTimer.unref();
  }

  /**
   * Offers the journal's ends to the database, when it takes writes (asked without waiting):
   * each agent's exit and end are recorded and its cleanup run, by whichever corral gets there
   * first. Returns how many were recorded. Concurrent calls share one pass.
   */
  recordPending(): Promise<number> {
    this.recording ??= this.recordPendingOnce().finally(() => {
      this.recording = null;
    });
    return this.recording;
  }

  private async recordPendingOnce(): Promise<number> {
    const { core } = this;
    const entries = core.closed ? [] : core.pending.list();
    if (entries.length === 0) {
      this.stopRetrying();
      return 0;
    }
    if (!core.store.writableNow()) return 0;
    let recorded = 0;
    const cleanups: Promise<unknown>[] = [];
    for (const { name, record } of entries) {
      const id = record.agentId as AgentId;
      const ending: Ending = { status: record.status, reason: record.reason, exit: record.exit };
      const claim = core.newClaim();
      let won: boolean;
      try {
        if (record.exit !== null) core.store.runs.recordExit(id, record.exit);
        won = core.store.runs.end(id, { ...ending, at: record.at, claim });
      } catch (cause) {
        if (!isUnwritable(cause)) throw cause;
        break;
      }
      // Recorded, or ended meanwhile by someone else: either way the journal is done with it.
      core.pending.remove(name);
      core.unended.delete(id);
      recorded += 1;
      if (won) cleanups.push(this.track(id, this.cleanup(id, claim, CLEANUP_STEPS, record.stopped)));
    }
    if (recorded > 0) core.logger.info({ recorded }, "recorded ends kept in the journal while the database was unavailable");
    await Promise.all(cleanups);
    return recorded;
  }

  /** Stops offering the journal to the database (it is empty, or this corral closes). */
  stopRetrying(): void {
    if (this.pendingTimer !== null) clearInterval(this.pendingTimer);
    this.pendingTimer = null;
  }

  /** Runs again the failed steps of every partial cleanup; returns how many it took on. */
  async retryCleanups(): Promise<number> {
    const { core } = this;
    if (core.closed || !core.store.writableNow()) return 0;
    // None was partial when nothing was written since the last look found none.
    const mark = core.store.changeMark();
    if (mark === this.nonePartialAt) return 0;
    const partial = core.store.cleanups.partial();
    this.nonePartialAt = partial.length === 0 ? mark : null;
    let taken = 0;
    for (const agent of partial) {
      const claim = core.newClaim();
      if (!core.store.cleanups.retry(agent.id, claim)) continue;
      taken += 1;
      const recorded = core.store.cleanupSteps.forAgent(agent.id);
      await this.track(agent.id, this.cleanup(agent.id, claim, stepsToRetry(recorded, agent.cleanupAttempts)));
    }
    return taken;
  }

  /** Runs the cleanup claimed by `claim` (whole, or the steps a partial one failed). */
  async cleanup(id: AgentId, claim: CleanupClaim, steps: readonly CleanupStep[], stoppedEarlier: Deferred["stopped"] | null = null): Promise<void> {
    const { core } = this;
    const agent = core.store.agents.get(id);
    if (agent === null) return;
    const outcome = await runCleanup(this.cleanupContext(), agent, agent.cleanupAttempts, steps, stoppedEarlier);
    await core.persist(() => core.store.cleanups.finish(id, claim, outcome, Date.now()));
    core.logger.info({ agent: id, status: agent.status, cleanup: outcome }, "agent cleaned");
  }

  private cleanupContext(): CleanupContext {
    const { core } = this;
    return {
      store: core.store,
      backends: core.backends,
      streams: core.streams,
      runners: core.runners,
      workspaces: core.workspaces,
      graceMs: core.graceMs,
      diskRanFull: () => core.ballast.spent(),
      persist: (write) => core.persist(write),
      whenWritable: () => core.whenWritable(),
      logger: core.logger,
    };
  }

  /** Runs a cleanup as this process's one for the agent; whenCleaned waits on it. */
  async track(id: AgentId, work: Promise<void>): Promise<void> {
    const { core } = this;
    const guarded = work.catch((cause: unknown) => {
      // The database refused its writes until this corral closed: its claim is taken over later.
      if (core.closed && cause instanceof CorralFailure) {
        core.logger.warn({ agent: id, err: cause.message }, "cleanup left unfinished at close: the next corral takes it over");
        return;
      }
      core.logger.error({ agent: id, err: describeUnknown(cause) }, "cleanup failed unexpectedly");
    });
    core.inFlight.set(id, guarded);
    try {
      await guarded;
    } finally {
      if (core.inFlight.get(id) === guarded) core.inFlight.delete(id);
    }
  }
}
