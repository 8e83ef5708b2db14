import type { Logger } from "pino";
import type { Config } from "../domain/config.js";
import type { Result } from "../domain/errors.js";
import type { AgentId, TaskId } from "../domain/ids.js";
import type { AgentRecord, TaskRecord } from "../store/records.js";
import type { LoopbackPeer, ProcessIdentity } from "../runners/host.js";
import type { Runners } from "../runners/registry.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentOutputView, OutputQuery } from "./agent-output.js";
import { AgentCalls } from "./agent-calls.js";
import { Core } from "./core.js";
import { Deployment } from "./deployment.js";
import { Endings } from "./endings.js";
import type { CreateTaskInput, DeployInput, EventInput } from "./inputs.js";
import { createLogger } from "./logger.js";
import { openParts } from "./opening.js";
import type { PageQuery } from "./paging.js";
import type { TimelineView } from "./reply-views.js";
import { Queries, type WaitOutcome } from "./queries.js";
import { Recovery, type ReconcileReport } from "./recovery.js";
import type { EndpointHandler } from "./agent-endpoints.js";
import type { RelayHandler } from "./relays.js";
import { lifetimeOf } from "./reaper.js";
import { Termination, type KillResult } from "./termination.js";
import { Upkeep, type CorralStats, type ReapReport } from "./upkeep.js";
import type { GcReport } from "./gc.js";
import type { AgentView, CleanupHealthView, CleanupRecordView, DatabaseView, PageView, TaskStatusView, TaskSummaryView } from "./views.js";
import type { Workspaces } from "./workspace.js";

/** How often the database file is checked to still be the one open (a stat). */
const STORE_CHECK_MS = 1000;
/** How long a closing corral waits for the exits of agents it saw die to be handled. */
const EXIT_HANDLED_WAIT_MS = 1000;

export interface OpenOptions {
  /**
   * Whether this process watches over the state dir in the background: reconciling at once
   * and every reconcileMs, reaping every reapMs. A coordinator does; an agent's own server,
   * short-lived, does not (it would adopt orphans only to hand them back when it exits); a caller
   * that drives reconcile() and reap() itself need not.
   */
  readonly watch: boolean;
}

/** How a process serves its agents' tools: on contained agents' relay sockets, and over loopback HTTP. */
export interface AgentHandlers {
  readonly relay: RelayHandler;
  readonly http: EndpointHandler;
}

/**
 * The lifecycle service, one per corral process: a facade over deployment, termination,
 * recovery, queries, agents' own calls and upkeep, which share one Core. It owns the
 * background rounds and the order of shutdown; the store stays inside. Its length is the size
 * of the service's surface (one delegating method per operation), not of any logic.
 */
export class Corral {
  private readonly core: Core;
  private readonly endings: Endings;
  private readonly deployment: Deployment;
  private readonly termination: Termination;
  private readonly recovery: Recovery;
  private readonly queries: Queries;
  private readonly calls: AgentCalls;
  private readonly upkeep: Upkeep;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(core: Core, options: OpenOptions) {
    this.core = core;
    this.endings = new Endings(core);
    this.upkeep = new Upkeep(core, this.endings);
    this.deployment = new Deployment(core, this.endings, () => this.upkeep.watchDisk());
    this.termination = new Termination(core, this.endings);
    this.recovery = new Recovery(core, this.endings);
    this.queries = new Queries(core);
    this.calls = new AgentCalls(core);
    const { config } = core;
    this.every(config.cleanupRetryMs, () => core.inBackground("retrying cleanups", () => this.retryCleanups()));
    this.every(STORE_CHECK_MS, () => void core.usable());
    if (options.watch) {
      this.every(config.gcMs, () => this.upkeep.gcInBackground());
      this.every(config.reconcileMs, () => core.inBackground("reconciling", () => this.reconcile()));
      this.every(config.reapMs, () => core.inBackground("reaping", () => this.reap()));
      setImmediate(() => core.inBackground("reconciling", () => this.reconcile()));
    }
  }

  /** Opens the store and starts the service, watching in the background unless told not to. */
  static open(config: Config, logger: Logger = createLogger(config.logLevel), options: OpenOptions = { watch: true }): Result<Corral> {
    const parts = openParts(config, logger);
    if (!parts.ok) return parts;
    return { ok: true, value: new Corral(new Core(parts.value), options) };
  }

  private every(ms: number, round: () => void): void {
    const timer = setInterval(round, ms);
    timer.unref();
    this.timers.push(timer);
  }

  get config(): Config {
    return this.core.config;
  }

  /** This corral process: the owner recorded on the agents it launches. */
  get owner(): ProcessIdentity {
    return this.core.owner;
  }

  get workspaces(): Workspaces {
    return this.core.workspaces;
  }

  /** Whether agents run under tini, a subreaper that keeps even setsid'd descendants findable. */
  get usesSubreaper(): boolean {
    return this.core.usesSubreaper;
  }

  /** Where agents run: every runner by kind, and what they share (this state dir's cgroups). */
  get runners(): Runners {
    return this.core.runners;
  }

  createTask(raw: CreateTaskInput): Result<TaskRecord> {
    return this.deployment.createTask(raw);
  }

  deploy(raw: DeployInput): Promise<Result<AgentRecord>> {
    return this.deployment.deploy(raw);
  }

  checkDeploy(raw: Omit<DeployInput, "taskId">): Result<void> {
    return this.deployment.checkDeploy(raw);
  }

  /**
   * Serves the tools of the agents this process owns, through the MCP layer's handlers: over
   * loopback HTTP for agents whose CLI calls them there, on relay sockets for contained
   * agents. A corral process that deploys or adopts agents needs it; one that does not serve
   * gives its agents a server process of their own.
   */
  serveAgentsWith(handlers: AgentHandlers): void {
    this.core.relays.serveWith(handlers.relay);
    this.core.endpoints.serveWith(handlers.http);
  }

  /** The agent a bearer token belongs to, for a loopback connection from inside its processes. */
  authenticateConnection(token: string | undefined, peer: LoopbackPeer): Promise<Result<AgentRecord>> {
    return this.calls.authenticateConnection(token, peer);
  }

  kill(rawId: string, reason?: string): Promise<Result<KillResult>> {
    return this.termination.kill(rawId, reason);
  }

  /** kill, for a caller that names the task too: an agent of another task is refused. */
  async killInTask(rawTaskId: string, rawAgentId: string, reason?: string): Promise<Result<KillResult>> {
    const agent = this.queries.agentInTask(rawTaskId, rawAgentId);
    if (!agent.ok) return agent;
    return this.termination.kill(agent.value.id, reason);
  }

  whenCleaned(id: AgentId, timeoutMs?: number): Promise<AgentRecord> {
    return this.termination.whenCleaned(id, timeoutMs);
  }

  cleanupRecord(id: AgentId): CleanupRecordView {
    return this.termination.cleanupRecord(id);
  }

  authenticate(token: string | undefined, caller: number): Promise<Result<AgentRecord>> {
    return this.calls.authenticate(token, caller);
  }

  living(id: AgentId): Result<AgentRecord> {
    return this.calls.living(id);
  }

  claimDone(id: AgentId): Result<void> {
    return this.calls.claimDone(id);
  }

  report(rawId: string, raw: EventInput): Promise<Result<number>> {
    return this.calls.report(rawId, raw);
  }

  attachCommand(rawId: string): Result<readonly string[]> {
    return this.queries.attachCommand(rawId);
  }

  status(rawTaskId: string, rawPage?: PageQuery): Result<TaskStatusView> {
    return this.queries.status(rawTaskId, rawPage);
  }

  database(): DatabaseView {
    return this.queries.database();
  }

  pendingCount(): number {
    return this.queries.pendingCount();
  }

  timeline(rawTaskId: string): Result<TimelineView> {
    return this.queries.timeline(rawTaskId);
  }

  agents(all: boolean): AgentView[] {
    return this.queries.agents(all);
  }

  listTasks(): TaskSummaryView[] {
    return this.queries.listTasks();
  }

  taskPage(rawPage: PageQuery): Result<{ page: PageView; tasks: TaskSummaryView[] }> {
    return this.queries.taskPage(rawPage);
  }

  output(rawTaskId: string, rawAgentId: string, rawQuery: OutputQuery): Promise<Result<AgentOutputView>> {
    return this.queries.output(rawTaskId, rawAgentId, rawQuery);
  }

  waitForAgents(
    rawTaskId: string,
    rawAgentIds: readonly string[] | undefined,
    mode: "any" | "all",
    timeoutMs: number,
    onTick?: (ended: number, total: number) => void | Promise<void>,
    shown?: number,
  ): Promise<Result<WaitOutcome>> {
    return this.queries.waitForAgents(rawTaskId, rawAgentIds, mode, timeoutMs, onTick, shown);
  }

  task(id: TaskId): TaskRecord | null {
    return this.queries.task(id);
  }

  agent(id: AgentId): AgentRecord | null {
    return this.queries.agent(id);
  }

  cleanupHealth(): CleanupHealthView {
    return this.queries.cleanupHealth();
  }

  reconcile(): Promise<ReconcileReport> {
    return this.recovery.reconcile();
  }

  recordPending(): Promise<number> {
    return this.endings.recordPending();
  }

  retryCleanups(): Promise<number> {
    return this.endings.retryCleanups();
  }

  reap(now?: number): Promise<ReapReport> {
    return this.upkeep.reap(now);
  }

  checkDiskFloor(): Promise<AgentId | null> {
    return this.upkeep.checkDiskFloor();
  }

  stats(): CorralStats {
    return this.upkeep.stats();
  }

  gc(dryRun = false): GcReport {
    return this.upkeep.gc(dryRun);
  }

  /**
   * Kills every live agent this process launched, in parallel, then closes; with
   * onShutdown=detach it leaves them running for the next coordinator to adopt. Agents it
   * adopted are never killed here: they are handed back for the next corral to adopt. The grace
   * period shrinks so that the whole shutdown fits in shutdownDeadlineMs: the SIGTERM phase
   * gets half of it, the rest is left for SIGKILL, verification and cleanup.
   */
  async shutdown(reason = "corral shut down"): Promise<void> {
    const { core } = this;
    if (core.closed) return;
    this.recovery.handBack();
    if (core.config.onShutdown === "terminate") {
      core.graceMs = Math.min(core.config.graceMs, Math.floor(core.config.shutdownDeadlineMs / 2));
      const owned = core.store.ownership.liveOwnedBy(core.owner);
      for (const agent of owned.filter((a) => lifetimeOf(a) !== null)) {
        core.logger.info({ agent: agent.id, maxRuntimeMs: lifetimeOf(agent) }, "left running: it has a lifetime of its own");
      }
      await Promise.all(owned.filter((a) => lifetimeOf(a) === null).map((agent) => this.termination.kill(agent.id, reason)));
    }
    await this.close();
  }

  /**
   * Agents left running whose tools this process served over HTTP: until a corral on this state
   * dir adopts them (any watching corral does at once: corral serve, corral run), their CLIs
   * are told at each call that the server cannot be reached, and then served on the same URL.
   */
  private warnOfUnservedAgents(): void {
    const { core } = this;
    const left = core.store.ownership.toolsUrlsOf(core.owner).filter((agent) => core.endpoints.serves(agent.toolsUrl));
    if (left.length === 0) return;
    core.logger.warn(
      { agents: left.map((agent) => agent.id) },
      `${left.length} agent(s) left running call their tools on this process's endpoint: their calls fail until a corral on this state dir adopts them (start corral serve, or any corral run)`,
    );
  }

  /** Waits for cleanups under way and closes the store. Agents still running keep running. */
  async close(): Promise<void> {
    const { core } = this;
    if (core.closed) return;
    core.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.upkeep.stop();
    this.warnOfUnservedAgents();
    core.relays.closeAll();
    core.endpoints.closeAll();
    this.recovery.stopWatching();
    this.endings.stopRetrying();
    core.streams.stop();
    await this.recovery.settled();
    await Promise.all(core.inFlight.values());
    // An agent stopped just now may have exited without its exit being handled yet: an exit the
    // database refused goes to the journal, and must be there before this process goes.
    // The wait is cancelled once they are: a timer left running would hold the process for its whole length.
    const waited = new AbortController();
    await Promise.race([
      Promise.all(this.deployment.exitsOfTheDead()),
      sleep(EXIT_HANDLED_WAIT_MS, undefined, { signal: waited.signal }).catch((error: unknown) => {
        if (!waited.signal.aborted) throw error;
      }),
    ]);
    waited.abort();
    // What this process recorded since the file went: into the rescued copy, for a person to put back.
    if (core.lostStore?.rescue != null) core.rescueStore(core.lostStore.rescue);
    // The state dir's cgroup parent goes with the last agent; agents still running keep theirs.
    core.runners.close();
    core.store.close();
  }
}
