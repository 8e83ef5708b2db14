import { describeUnknown } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";
import type { Owner } from "../store/ownership.js";
import type { AgentRecord } from "../store/records.js";
import { sameProcess, stillRunning, type ProcessIdentity } from "../runners/host.js";
import { CLEANUP_STEPS } from "./cleanup.js";
import type { Core } from "./core.js";
import type { Endings } from "./endings.js";

export interface ReconcileReport {
  readonly adopted: AgentId[];
  readonly terminated: AgentId[];
  readonly failed: AgentId[];
  /** Orphans whose process had already exited when found: recorded as they ended, not killed. */
  readonly foundEnded: AgentId[];
  readonly cleanupsTakenOver: AgentId[];
  /** Empty cgroups of this state dir that no live agent holds (left by a crash), removed. */
  readonly cgroupsRemoved: string[];
}

/**
 * What dead corral processes left: their agents adopted (or terminated, per `orphans`), their
 * unfinished cleanups taken over, and, at this corral's own shutdown, adopted agents handed
 * back for the next corral.
 */
export class Recovery {
  /** The dead corral each adopted agent came from: shutdown hands the agent back, never kills it. */
  private readonly adoptedFrom = new Map<AgentId, ProcessIdentity>();
  /** Aborted when this corral closes: it stops watching the agents it adopted. */
  private readonly watching = new AbortController();
  private reconciling: Promise<ReconcileReport> | null = null;
  /**
   * The owners of live agents and the cleanups under way, as read at a change mark of the
   * store: while nothing was written since, they still hold, and a round only asks whether
   * each owner and claimer still lives.
   */
  private seen: { readonly mark: string; readonly owners: readonly Owner[]; readonly cleanups: readonly AgentRecord[] } | null = null;

  constructor(
    private readonly core: Core,
    private readonly endings: Endings,
  ) {}

  /**
   * Looks after what dead corral processes left: live agents whose owner is gone are adopted
   * (watched through /proc to their end) or terminated, per `orphans`; an agent caught
   * mid-launch is ended failed; a cleanup whose claimer died is run again; partial cleanups
   * are retried. Only what the store says a dead owner held is touched, never an agent of a
   * live corral. Concurrent calls share one pass.
   */
  reconcile(): Promise<ReconcileReport> {
    this.reconciling ??= this.reconcileOnce().finally(() => {
      this.reconciling = null;
    });
    return this.reconciling;
  }

  /** Settles once a reconcile under way has finished. */
  async settled(): Promise<void> {
    await this.reconciling;
  }

  private async reconcileOnce(): Promise<ReconcileReport> {
    const { core } = this;
    const { store } = core;
    const report = {
      adopted: [] as AgentId[],
      terminated: [] as AgentId[],
      failed: [] as AgentId[],
      foundEnded: [] as AgentId[],
      cleanupsTakenOver: [] as AgentId[],
      cgroupsRemoved: [] as string[],
    };
    if (core.closed) return report;
    // Ends a dead corral kept in the journal go first: they say how its agents ended, which
    // an adoption would otherwise have to guess.
    await this.endings.recordPending();
    if (core.pending.list().length > 0 || !store.writableNow()) {
      core.logger.warn("the database cannot be written now: reconciling waits for the next round");
      return report;
    }
    const endings: Promise<unknown>[] = [];
    // One look at each owner, and the rows of a dead one alone are read: what a live corral
    // owns costs nothing here, however much it is.
    const mark = store.changeMark();
    if (this.seen?.mark !== mark) this.seen = { mark, owners: store.ownership.liveOwners(), cleanups: store.cleanups.running() };
    const { owners, cleanups } = this.seen;
    const orphans = owners
      .filter((owner) => !sameProcess(owner, core.owner) && !stillRunning(owner))
      .flatMap((owner) => store.ownership.liveOwnedBy(owner));
    for (const orphan of orphans) {
      if (orphan.process === null) {
        // Caught mid-launch: whatever it may have started is found by its mark at cleanup.
        const ending = this.endings.end(orphan.id, { status: "failed", reason: "its corral died while launching it", exit: null });
        endings.push(ending.then((won) => won && report.failed.push(orphan.id)));
        continue;
      }
      if (!store.ownership.adopt(orphan.id, orphan.owner, core.owner)) continue;
      const agent = store.agents.get(orphan.id) as AgentRecord;
      const { runner, handle } = core.handleOf(agent);
      const recovered = runner.recover(handle, this.watching.signal);
      if (!recovered.running) {
        // It ended while no corral watched: there is nothing to kill, only its end to record,
        // from the runner's record of its exit status when it kept one.
        report.foundEnded.push(agent.id);
        endings.push(this.onAdoptedExit(agent.id));
        continue;
      }
      if (core.config.orphans === "terminate") {
        report.terminated.push(agent.id);
        endings.push(this.endings.end(agent.id, { status: "killed", reason: "its corral died (orphans=terminate)", exit: null }));
      } else {
        report.adopted.push(agent.id);
        this.adoptedFrom.set(agent.id, orphan.owner);
        this.watch(agent, recovered.ended);
        await this.serveTools(agent);
      }
    }
    for (const agent of cleanups) {
      const claimer = agent.cleanupClaim?.claimer ?? null;
      if (claimer !== null && stillRunning(claimer)) continue;
      const claim = core.newClaim();
      if (!store.cleanups.takeOver(agent.id, agent.cleanupClaim, claim)) continue;
      report.cleanupsTakenOver.push(agent.id);
      endings.push(this.endings.track(agent.id, this.endings.cleanup(agent.id, claim, CLEANUP_STEPS)));
    }
    await Promise.all(endings);
    await this.endings.retryCleanups();
    report.cgroupsRemoved.push(...core.removeStaleCgroups());
    const changed = Object.values(report).some((ids) => ids.length > 0);
    if (changed) core.logger.info(report, "reconciled what a dead corral left");
    return report;
  }

  /**
   * Adopted agents go back to the corral they came from, which is dead, so the next corral
   * adopts them again: a coordinator that lives a moment (a health check, a one-shot client)
   * must not turn its adoption into a kill nobody asked for.
   */
  handBack(): void {
    const { core } = this;
    for (const [id, from] of this.adoptedFrom) {
      if (core.store.ownership.adopt(id, core.owner, from)) core.logger.info({ agent: id }, "released an adopted agent for the next corral");
    }
  }

  /** Stops watching adopted agents (this corral closes). */
  stopWatching(): void {
    this.watching.abort();
  }

  /**
   * An adopted agent's tools are served again where its CLI calls them: a contained agent's on a
   * new socket in its relay dir, an HTTP agent's on the port its dead owner listened on.
   * Until then its calls failed, and its CLI said so to the agent; failing now, they go on
   * failing, and the log says why.
   */
  private async serveTools(agent: AgentRecord): Promise<void> {
    const { core } = this;
    const listening =
      agent.spec.containment === "bwrap" ? await core.relays.listen(agent.id) : agent.toolsUrl !== null ? await core.endpoints.adopt(agent.toolsUrl) : null;
    if (listening !== null && !listening.ok) core.logger.warn({ agent: agent.id, err: listening.error.message }, "an adopted agent cannot reach its tools");
  }

  /** Follows an adopted agent: its stream, and its end, as its runner recovered it. */
  private watch(agent: AgentRecord, ended: Promise<void>): void {
    const parseLine = this.core.parserOf(agent);
    if (parseLine !== null) this.core.streams.follow(agent.id, parseLine);
    void ended
      .then(() => this.onAdoptedExit(agent.id))
      .catch((cause: unknown) => this.core.logger.error({ agent: agent.id, err: describeUnknown(cause) }, "recording an adopted agent's end failed"));
  }

  /** An adopted agent ended: its status is known when its runner kept it, else it is lost. */
  private async onAdoptedExit(id: AgentId): Promise<void> {
    this.adoptedFrom.delete(id);
    const agent = this.core.store.agents.get(id);
    if (agent === null) return;
    const { runner, handle } = this.core.handleOf(agent);
    const recorded = runner.capabilities.exitStatusAfterAdoption ? await runner.wait(handle) : null;
    if (recorded !== null) return this.endings.onExit(id, recorded);
    return this.endings.onLostExit(id, "it ended while no corral was its parent");
  }
}
