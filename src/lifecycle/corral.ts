import { randomBytes } from "node:crypto";
import { mkdirSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { claudeBackend } from "../backends/claude.js";
import { commandBackend } from "../backends/command.js";
import type { Backend, BackendPlan } from "../backends/backend.js";
import { isTerminal, statusForExit, type ExitStatus } from "../domain/agent-state.js";
import type { Config, RunnerKind } from "../domain/config.js";
import { anyLimit, limitsOf, prlimitOptions } from "../domain/resource-limits.js";
import { CorralFailure, describeUnknown, fail, ok, unwrap, type CorralError, type Result } from "../domain/errors.js";
import { newAgentId, newTaskId, TaskIdSchema, type AgentId, type TaskId } from "../domain/ids.js";
import { findExecutable } from "../runners/executables.js";
import { ProcessRunner } from "../runners/process-runner.js";
import type { Runner } from "../runners/runner.js";
import { findTmuxTools, TMUX_MISSING, TmuxRunner } from "../runners/tmux-runner.js";
import type { AgentRecord, AgentSummary, TaskRecord } from "../store/records.js";
import { isUnwritable } from "../store/database.js";
import { diskFullGuard } from "../store/guard.js";
import { Store } from "../store/store.js";
import { discover } from "../supervisor/discover.js";
import { identify, isAlive, sameProcess, type ProcessIdentity } from "../supervisor/identity.js";
import { usageOf } from "../supervisor/usage.js";
import { CLEANUP_STEPS, MARK_NAME, runCleanup, scopeOf, stepsToRetry, type CleanupContext, type CleanupStep } from "./cleanup.js";
import {
  CreateTaskInputSchema,
  DeployInputSchema,
  EventInputSchema,
  parseInput,
  type CreateTaskInput,
  type DeployInput,
  type EventInput,
} from "./inputs.js";
import { parseOutputQuery, readAgentOutput, type AgentOutputView, type OutputQuery } from "./agent-output.js";
import { Ballast } from "./ballast.js";
import { failpoint } from "./failpoints.js";
import { modifiedAt, statOrNull } from "./file-stat.js";
import { PendingRecords, type PendingEnding } from "./pending-records.js";
import { collectGarbage, type GcReport } from "./gc.js";
import { createLogger } from "./logger.js";
import { planReap, type ReapProbe } from "./reaper.js";
import { corralEntry } from "./self.js";
import { hashToken, newToken } from "./tokens.js";
import { StreamFollower } from "./stream-follower.js";
import { agentView, cleanupView, eventView, taskStatus, taskSummary } from "./task-status.js";
import type { AgentView, CleanupHealthView, DatabaseView, CleanupRecordView, EventView, TaskStatusView, TaskSummaryView } from "./views.js";
import { cleanupHealth } from "./cleanup-health.js";
import { Workspaces } from "./workspace.js";

export interface CorralStats {
  readonly agents: {
    agentId: AgentId;
    taskId: TaskId;
    processes: number;
    residentMb: number;
    cpuSeconds: number;
    openFiles: number;
    logBytes: number;
    /** What the runner keeps for the agent besides its own processes (tmux: server, keeper, log pipe). */
    runner: { kind: RunnerKind; processes: number; residentMb: number };
  }[];
  readonly disk: GcReport["usage"];
  readonly cleanupHealth: CleanupHealthView;
}

export interface KillResult {
  readonly agent: AgentRecord;
  /** The agent as status shows it. */
  readonly view: AgentView;
  /** False when the agent had already ended: nothing was done, the record is the earlier one. */
  readonly killedNow: boolean;
  readonly cleanup: CleanupRecordView;
}

export interface OpenOptions {
  /**
   * Whether this process watches over the state dir in the background: reconciling at once
   * and every reconcileMs, reaping every reapMs. A coordinator does; an agent's own server,
   * short-lived, does not (it would adopt orphans only to kill them when it exits); a caller
   * that drives reconcile() and reap() itself need not.
   */
  readonly watch: boolean;
}

export interface ReconcileReport {
  readonly adopted: AgentId[];
  readonly terminated: AgentId[];
  readonly failed: AgentId[];
  readonly cleanupsTakenOver: AgentId[];
}

const CLEANED_POLL_MS = 20;
const WATCH_POLL_MS = 200;
const WAIT_POLL_MS = 100;
const STREAM_POLL_MS = 250;
/** How long a call waits (with the event loop free) for a database another process has locked. */
const CALL_WRITE_WAIT_MS = 1000;
/**
 * How long an agent's end waits for the database (event loop free) before it is kept in the
 * journal instead: long enough that another corral's ordinary writes never send it there.
 */
const END_WRITE_WAIT_MS = 250;
/** How often ends kept in the journal are offered to the database again. */
const PENDING_RETRY_MS = 200;

type Ending = { status: "completed" | "failed" | "killed" | "crashed" | "timed_out"; reason: string | null; exit: ExitStatus | null };

/** An end the database refused: kept in the journal, the agent's processes stopped all the same. */
interface Deferred {
  readonly stopped: { signalled: number[]; survivors: number[] };
  /** Whether it was recorded right after the stop (the lock's holder may have been the agent itself). */
  readonly recordedSince: boolean;
  readonly error: CorralError;
}

/**
 * The lifecycle service: the only place that combines store, runners, backends and the
 * supervisor. Every terminal transition is won by exactly one caller, across processes, and
 * that caller runs the agent's cleanup.
 */
export class Corral {
  readonly config: Config;
  readonly store: Store;
  readonly workspaces: Workspaces;
  readonly owner: ProcessIdentity;
  private readonly logger: Logger;
  private readonly runners: ReadonlyMap<RunnerKind, Runner>;
  private readonly backends: ReadonlyMap<string, Backend>;
  private readonly inFlight = new Map<AgentId, Promise<void>>();
  private readonly streams: StreamFollower;
  private readonly ballast: Ballast;
  private readonly retryTimer: NodeJS.Timeout;
  private readonly reconcileTimer: NodeJS.Timeout | null;
  private readonly reapTimer: NodeJS.Timeout | null;
  private readonly gcTimer: NodeJS.Timeout | null;
  /** Agents this process adopted: not its children, so their end is seen through /proc. */
  private readonly adopted = new Map<AgentId, ProcessIdentity>();
  private watchTimer: NodeJS.Timeout | null = null;
  /** Ends the database refused, waiting in the state dir for it to take them. */
  private readonly pending: PendingRecords;
  private pendingTimer: NodeJS.Timeout | null = null;
  /**
   * Agents this process launched whose end it has not yet seen on record: only their exits,
   * seen after close, go to the journal. (Kept for live agents only, so it never grows.)
   */
  private readonly unended = new Set<AgentId>();
  private recording: Promise<number> | null = null;
  private reconciling: Promise<ReconcileReport> | null = null;
  private closed = false;
  /** SIGTERM to SIGKILL; shorter during a shutdown, which has a deadline. */
  private graceMs: number;

  /** Whether agents run under tini, a subreaper that keeps even setsid'd descendants findable. */
  readonly usesSubreaper: boolean;

  private constructor(
    config: Config,
    store: Store,
    logger: Logger,
    owner: ProcessIdentity,
    tools: { tini: string | null; prlimit: string | null; tmux: { tmux: string; setsid: string } | null },
    ballast: Ballast,
    options: OpenOptions,
  ) {
    this.ballast = ballast;
    this.config = config;
    this.store = store;
    this.logger = logger;
    this.owner = owner;
    this.graceMs = config.graceMs;
    this.workspaces = new Workspaces(config.home);
    const wrapping = { tiniPath: tools.tini, limiter: tools.prlimit === null ? [] : [tools.prlimit, ...prlimitOptions(limitsOf(config)), "--"] };
    const runners: Runner[] = [new ProcessRunner(wrapping)];
    if (tools.tmux !== null) runners.push(new TmuxRunner(tools.tmux.tmux, tools.tmux.setsid, join(config.home, "tmux"), wrapping));
    this.runners = new Map(runners.map((runner) => [runner.kind, runner]));
    this.usesSubreaper = tools.tini !== null;
    this.streams = new StreamFollower(store, logger, STREAM_POLL_MS);
    this.pending = new PendingRecords(join(config.home, "pending"), logger);
    const claude = claudeBackend({
      claudePath: config.claudePath,
      permissionMode: config.claudePermissionMode,
      allowedTools: config.claudeAllowedTools,
      strictMcp: config.claudeStrictMcp,
      agentServer: { command: process.execPath, args: [corralEntry(), "serve", "--agent"], home: config.home },
    });
    this.backends = new Map([
      [claude.name, claude],
      [commandBackend.name, commandBackend],
    ]);
    this.retryTimer = setInterval(() => this.inBackground("retrying cleanups", () => this.retryCleanups()), config.cleanupRetryMs);
    this.retryTimer.unref();
    this.reconcileTimer = null;
    this.reapTimer = null;
    this.gcTimer = null;
    if (options.watch) {
      this.gcTimer = setInterval(() => this.gcInBackground(), config.gcMs);
      this.gcTimer.unref();
      this.reconcileTimer = setInterval(() => this.inBackground("reconciling", () => this.reconcile()), config.reconcileMs);
      this.reconcileTimer.unref();
      this.reapTimer = setInterval(() => this.inBackground("reaping", () => this.reap()), config.reapMs);
      this.reapTimer.unref();
      setImmediate(() => this.inBackground("reconciling", () => this.reconcile()));
    }
  }

  /**
   * Runs a background round, which runs again later: a failure (a write the database refused
   * in the middle of it, when another process took the lock) is logged, never left unhandled,
   * which would end the process.
   */
  private inBackground(what: string, round: () => Promise<unknown>): void {
    round().catch((cause: unknown) => {
      const level = isUnwritable(cause) ? "warn" : "error";
      this.logger[level]({ err: describeUnknown(cause) }, `${what} failed; it runs again later`);
    });
  }

  /** Opens the store and starts the service, watching in the background unless told not to. */
  static open(config: Config, logger: Logger = createLogger(config.logLevel), options: OpenOptions = { watch: true }): Result<Corral> {
    const owner = identify(process.pid);
    if (owner === null) return fail("PROC_UNAVAILABLE", "cannot read /proc/self/stat: corral needs Linux with /proc mounted");
    const tini = config.subreaper === "none" ? null : findExecutable("tini", process.env.PATH);
    if (config.subreaper === "tini" && tini === null) {
      return fail("CONFIG_INVALID", "subreaper is tini but tini is not on PATH; install it (apt-get install tini) or set CORRAL_SUBREAPER=auto");
    }
    const tmux = findTmuxTools(process.env.PATH);
    if (config.runner === "tmux" && tmux === null) {
      return fail("CONFIG_INVALID", `runner is tmux but ${TMUX_MISSING}; or set CORRAL_RUNNER=process`);
    }
    const prlimit = anyLimit(limitsOf(config)) ? findExecutable("prlimit", process.env.PATH) : null;
    if (anyLimit(limitsOf(config)) && prlimit === null) {
      return fail("CONFIG_INVALID", "agent resource limits are set but prlimit is not on PATH; install util-linux or unset CORRAL_AGENT_*");
    }
    try {
      mkdirSync(config.home, { recursive: true, mode: 0o700 });
    } catch (cause) {
      return fail("DB_UNAVAILABLE", `cannot create the state dir ${config.home}: ${describeUnknown(cause)}`);
    }
    const ballast = new Ballast(join(config.home, "ballast"), Math.floor(config.ballastMb * 1024 * 1024));
    ballast.ensure();
    const store = Store.open(
      join(config.home, "corral.db"),
      diskFullGuard(() => {
        const freed = ballast.release();
        if (freed) logger.warn("the disk is full: released the ballast so that corral can still record");
        return freed;
      }),
    );
    if (!store.ok) return store;
    return ok(new Corral(config, store.value, logger, owner, { tini, prlimit, tmux }, ballast, options));
  }

  createTask(raw: CreateTaskInput): Result<TaskRecord> {
    const input = parseInput(CreateTaskInputSchema, raw);
    if (!input.ok) return input;
    const id = newTaskId();
    const workspace = this.workspaces.createTask(id);
    if (!workspace.ok) return workspace;
    const context = { ...input.value.context, ...(input.value.clientCwd === undefined ? {} : { clientCwd: input.value.clientCwd }) };
    const inserted = this.store.writeNow(() =>
      this.store.tasks.insert({
        id,
        description: input.value.description,
        priority: input.value.priority,
        context,
        workspace: workspace.value,
        createdAt: Date.now(),
      }),
    );
    if (!inserted.ok) this.workspaces.removeTask(id);
    return inserted;
  }

  /**
   * Checks limits and inserts the agent in one transaction, then launches it. Once the row
   * exists every failure ends it `failed` with the reason, and its cleanup still runs.
   */
  async deploy(raw: DeployInput): Promise<Result<AgentRecord>> {
    const input = parseInput(DeployInputSchema, raw);
    if (!input.ok) return input;
    const { taskId, agentType, prompt } = input.value;
    const task = this.store.tasks.get(taskId);
    if (task === null) return fail("UNKNOWN_TASK", `no task ${taskId}`);
    const command = input.value.command ?? null;
    const backendName = input.value.backend ?? (command === null ? "claude" : "command");
    const backend = this.backends.get(backendName);
    if (backend === undefined) return fail("INVALID_INPUT", `no backend ${backendName}`);
    const checked = backend.check({ command });
    if (!checked.ok) return checked;
    const cwd = input.value.cwd ?? stringOr(task.context.clientCwd, task.workspace);
    if (!isDirectory(cwd)) return fail("INVALID_INPUT", `cwd ${cwd} is not an existing directory`);
    const parent = input.value.parentId === undefined ? null : this.store.agents.get(input.value.parentId);
    // A child runs where its parent does unless told otherwise: a person watching the parent
    // in tmux can watch its children there too.
    const runnerKind = input.value.runner ?? (parent?.runner === "tmux" ? "tmux" : this.config.runner);
    const runner = this.runners.get(runnerKind);
    if (runner === undefined) return fail("INVALID_INPUT", `runner ${runnerKind} is not available: ${TMUX_MISSING}`);
    const space = this.freeSpaceCheck();
    if (!space.ok) return space;
    const agentId = newAgentId(agentType);
    const paths = this.workspaces.agentPaths(taskId, agentId);
    if (!paths.ok) return paths;

    const mark = randomBytes(16).toString("hex");
    const token = newToken();
    const inserted = await this.writeForCall(() => this.store.agents.insert(
      {
        id: agentId,
        taskId,
        type: agentType,
        parentId: input.value.parentId ?? null,
        backend: backend.name,
        runner: runner.kind,
        prompt,
        spec: { command, model: input.value.model ?? null, effort: input.value.effort ?? null },
        cwd,
        agentDir: paths.value.dir,
        logPath: paths.value.log,
        mark,
        tokenHash: hashToken(token),
        owner: this.owner,
        createdAt: Date.now(),
      },
      this.config,
    ));
    if (!inserted.ok) return inserted;
    if (!inserted.value.ok) return inserted.value;
    const agent = inserted.value.value;
    failpoint("deploy:after-insert");

    const plan = backend.plan({
      agentId,
      taskId,
      agentType,
      prompt,
      cwd,
      parentId: agent.parentId,
      depth: agent.depth,
      task: { description: task.description, context: task.context },
      dir: paths.value.dir,
      token,
      command,
      model: input.value.model ?? null,
      effort: input.value.effort ?? null,
    });
    const launched = plan.ok ? await this.launch(agent, runner, backend, plan.value, mark) : plan;
    if (!launched.ok) {
      // The end below says it failed; a refused launch record changes nothing it says.
      this.store.writeNow(() => this.store.agents.recordLaunch(agentId, null, Date.now()));
      await this.end(agentId, { status: "failed", reason: launched.error.message, exit: null });
      return fail("LAUNCH_FAILED", `agent ${agentId} failed to launch and was cleaned up: ${launched.error.message}`);
    }
    return ok(this.store.agents.get(agentId) as AgentRecord);
  }

  /** Below the free-space floor new agents are refused; the running ones keep running. */
  private freeSpaceCheck(): Result<void> {
    const stats = statfsSync(this.config.home);
    const freeMb = (stats.bavail * stats.bsize) / (1024 * 1024);
    if (freeMb >= this.config.minFreeMb) return ok(undefined);
    return fail(
      "DISK_LOW",
      `only ${Math.floor(freeMb)} MB free under ${this.config.home}, below minFreeMb=${this.config.minFreeMb}: no new agent is started; run corral gc or free some space`,
    );
  }

  private async launch(agent: AgentRecord, runner: Runner, backend: Backend, plan: BackendPlan, mark: string): Promise<Result<void>> {
    let started;
    try {
      const written = this.workspaces.writeAgentFiles(agent.agentDir, plan.dirs, plan.files);
      if (!written.ok) return written;
      started = runner.start({
        name: agent.id,
        agentDir: agent.agentDir,
        plan: { argv: plan.argv, env: plan.env, cwd: agent.cwd, stdinPath: plan.stdin === null ? null : join(agent.agentDir, plan.stdin) },
        logPath: agent.logPath,
        mark: { name: MARK_NAME, value: mark },
      });
    } catch (cause) {
      return fail("LAUNCH_FAILED", describeUnknown(cause));
    }
    if (!started.ok) return started;
    const proc = started.value;
    failpoint("deploy:after-spawn");
    const recorded = await this.writeForCall(() => this.store.agents.recordLaunch(agent.id, proc, Date.now()));
    if (!recorded.ok) {
      // Unrecorded, it could not be found again by its identity: it goes now, found by its mark.
      await runner.terminate(
        { root: { pid: proc.pid, startTime: proc.startTime }, sid: proc.sid, subreaper: proc.subreaper, mark: `${MARK_NAME}=${mark}` },
        { graceMs: this.graceMs },
      );
      return recorded;
    }
    this.unended.add(agent.id);
    if (backend.parseLine !== null) this.streams.follow(agent.id, backend.parseLine);
    proc.exited
      .then((exit) => (exit === null ? this.onLostExit(agent.id, `the ${runner.kind} runner could not read it`) : this.onExit(agent.id, exit)))
      .catch((cause: unknown) => this.logger.error({ agent: agent.id, err: describeUnknown(cause) }, "recording an exit failed"));
    return ok(undefined);
  }

  private async onExit(id: AgentId, exit: ExitStatus): Promise<void> {
    const reason =
      exit.kind === "signalled" && exit.signal === "SIGXCPU"
        ? `it used up its CPU time limit (agentCpuSeconds=${this.config.agentCpuSeconds})`
        : null;
    const ending: Ending = { status: statusForExit(exit), reason, exit };
    // After close the store is closed: the exit is kept in the journal for the next corral.
    // An exit that follows a kill still waiting in the journal (the kill caused it) queues
    // behind the kill, so the agent ends killed, with this exit status.
    if (this.closed && !this.unended.has(id)) return;
    if (this.closed || this.pending.hasAgent(id)) {
      await this.pending.add({ kind: "ending", agentId: id, ...ending, at: Date.now(), stopped: null });
      this.schedulePending();
      return;
    }
    const recorded = await this.store.writeSoon(() => this.store.agents.recordExit(id, exit), Date.now() + END_WRITE_WAIT_MS);
    if (!recorded.ok) {
      await this.defer(id, ending, Date.now(), recorded.error);
      return;
    }
    await this.end(id, ending);
  }

  /** The terminal transition; the winner runs the cleanup. False for everyone else. */
  private async end(id: AgentId, ending: Ending): Promise<boolean> {
    const outcome = await this.endOrDefer(id, ending);
    return outcome === "won" || (outcome !== "lost" && outcome.recordedSince);
  }

  /**
   * The terminal transition, or, when the database refuses it, the end kept in the journal
   * and the agent's processes stopped all the same: nothing that ends an agent waits on the
   * database.
   */
  private async endOrDefer(id: AgentId, ending: Ending): Promise<"won" | "lost" | Deferred> {
    const claim = this.newClaim();
    const at = Date.now();
    // An end already waiting in the journal came first: this one waits behind it.
    if (this.pending.hasAgent(id)) return this.defer(id, ending, at, this.store.lockedError());
    const won = await this.store.writeSoon(() => this.store.agents.end(id, { ...ending, at, claim }), Date.now() + END_WRITE_WAIT_MS);
    if (!won.ok) return this.defer(id, ending, at, won.error);
    this.unended.delete(id);
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
    const record: PendingEnding = { kind: "ending", agentId: id, ...ending, at, stopped: null };
    const name = await this.pending.add(record);
    this.logger.warn({ agent: id, status: ending.status, why: error.message }, "the database refused an agent's end: kept in the journal");
    const stopped = await this.stopUnrecorded(id);
    await this.pending.update(name, { ...record, stopped });
    this.schedulePending();
    await this.recordPending();
    // A pass already under way may have listed the journal before this end was in it.
    if (this.pending.has(name) && this.store.writableNow()) await this.recordPending();
    return { stopped, recordedSince: !this.pending.has(name), error };
  }

  /** Signals an agent's processes and verifies they are gone, recording nothing (see defer). */
  private async stopUnrecorded(id: AgentId): Promise<Deferred["stopped"]> {
    const agent = this.store.agents.get(id);
    const scope = agent === null ? null : scopeOf(agent);
    if (agent === null || scope === null) return { signalled: [], survivors: [] };
    const runner = this.runners.get(agent.runner) ?? (this.runners.get("process") as Runner);
    const report = await runner.terminate(scope, { graceMs: this.graceMs });
    const survivors = discover(scope).processes;
    return { signalled: report.signalled.map((p) => p.pid), survivors: survivors.map((p) => p.pid) };
  }

  private schedulePending(): void {
    if (this.pendingTimer !== null || this.closed) return;
    this.pendingTimer = setInterval(() => {
      void this.recordPending().catch((cause: unknown) =>
        this.logger.error({ err: describeUnknown(cause) }, "recording the journal's pending ends failed"),
      );
    }, PENDING_RETRY_MS);
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
    const entries = this.closed ? [] : this.pending.list();
    if (entries.length === 0) {
      if (this.pendingTimer !== null) clearInterval(this.pendingTimer);
      this.pendingTimer = null;
      return 0;
    }
    if (!this.store.writableNow()) return 0;
    let recorded = 0;
    const cleanups: Promise<unknown>[] = [];
    for (const { name, record } of entries) {
      const id = record.agentId as AgentId;
      const ending: Ending = { status: record.status, reason: record.reason, exit: record.exit };
      const claim = this.newClaim();
      let won: boolean;
      try {
        if (record.exit !== null) this.store.agents.recordExit(id, record.exit);
        won = this.store.agents.end(id, { ...ending, at: record.at, claim });
      } catch (cause) {
        if (!isUnwritable(cause)) throw cause;
        break;
      }
      // Recorded, or ended meanwhile by someone else: either way the journal is done with it.
      this.pending.remove(name);
      this.unended.delete(id);
      recorded += 1;
      if (won) cleanups.push(this.track(id, this.cleanup(id, claim, CLEANUP_STEPS, record.stopped)));
    }
    if (recorded > 0) this.logger.info({ recorded }, "recorded ends kept in the journal while the database was unavailable");
    await Promise.all(cleanups);
    return recorded;
  }

  /** How many ends wait in the journal for the database. */
  pendingCount(): number {
    return this.pending.list().length;
  }

  private async cleanup(id: AgentId, claim: string, steps: readonly CleanupStep[], stoppedEarlier: Deferred["stopped"] | null = null): Promise<void> {
    const agent = this.store.agents.get(id);
    if (agent === null) return;
    const outcome = await runCleanup(this.cleanupContext(), agent, agent.cleanupAttempts, steps, stoppedEarlier);
    await this.persist(() => this.store.agents.finishCleanup(id, claim, outcome, Date.now()));
    this.logger.info({ agent: id, status: agent.status, cleanup: outcome }, "agent cleaned");
  }

  /**
   * A write that must happen, whatever it waits for: retried with the event loop free while
   * the database refuses it. Given up only when this corral closes; the claim it held is then
   * taken over by the next corral (see reconcile).
   */
  private async persist<T>(write: () => T): Promise<T> {
    return unwrap(await this.store.writeSoon(write, Number.POSITIVE_INFINITY, () => this.closed));
  }

  /** A write a caller waits for: at most CALL_WRITE_WAIT_MS, then DB_BUSY. */
  private writeForCall<T>(write: () => T): Promise<Result<T>> {
    return this.store.writeSoon(write, Date.now() + CALL_WRITE_WAIT_MS, () => this.closed);
  }

  /** Resolves true once the database takes writes, false when this corral closes first. */
  private async whenWritable(): Promise<boolean> {
    while (!this.closed) {
      if (this.store.writableNow()) return true;
      await sleep(PENDING_RETRY_MS);
    }
    return false;
  }

  private cleanupContext(): CleanupContext {
    return {
      store: this.store,
      backends: this.backends,
      streams: this.streams,
      runners: this.runners,
      workspaces: this.workspaces,
      graceMs: this.graceMs,
      diskRanFull: () => this.ballast.spent(),
      persist: (write) => this.persist(write),
      whenWritable: () => this.whenWritable(),
      logger: this.logger,
    };
  }

  private async track(id: AgentId, work: Promise<void>): Promise<void> {
    const guarded = work.catch((cause: unknown) => {
      // The database refused its writes until this corral closed: its claim is taken over later.
      if (this.closed && cause instanceof CorralFailure) {
        this.logger.warn({ agent: id, err: cause.message }, "cleanup left unfinished at close: the next corral takes it over");
        return;
      }
      this.logger.error({ agent: id, err: describeUnknown(cause) }, "cleanup failed unexpectedly");
    });
    this.inFlight.set(id, guarded);
    try {
      await guarded;
    } finally {
      if (this.inFlight.get(id) === guarded) this.inFlight.delete(id);
    }
  }

  /** Kills the agent and its live descendants (children first, in parallel) and returns the cleanup record. */
  async kill(rawId: string, reason = "killed by request"): Promise<Result<KillResult>> {
    const id = rawId as AgentId;
    const agent = this.store.agents.get(id);
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`);
    await Promise.all(this.store.agents.liveChildren(id).map((child) => this.kill(child.id, `parent ${id} was killed`)));
    const outcome = await this.endOrDefer(id, { status: "killed", reason, exit: null });
    if (outcome !== "won" && outcome !== "lost" && !outcome.recordedSince) {
      const { signalled, survivors } = outcome.stopped;
      const verdict = survivors.length === 0 ? "verified gone" : `but ${survivors.join(", ")} survived and are retried at cleanup`;
      return fail(
        outcome.error.code,
        `${id} was stopped (${signalled.length} processes signalled, ${verdict}); its end (killed) is kept in ${this.pending.dir} and recorded, its cleanup run, as soon as the database takes writes. ${outcome.error.message}`,
      );
    }
    const killedNow = outcome !== "lost";
    if (!killedNow) await this.whenCleaned(id);
    return ok({
      agent: this.store.agents.get(id) as AgentRecord,
      view: agentView(this.store.agents.summary(id) as AgentSummary),
      killedNow,
      cleanup: this.cleanupRecord(id),
    });
  }

  /** The argv that attaches a terminal to the agent's tmux session, read-only. */
  attachCommand(rawId: string): Result<readonly string[]> {
    const agent = this.store.agents.get(rawId as AgentId);
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`);
    if (agent.runner !== "tmux") {
      return fail("NOT_ATTACHABLE", `${agent.id} runs as a plain process, not in tmux: follow it with corral logs -f ${agent.id}, or deploy with runner tmux`);
    }
    if (isTerminal(agent.status)) {
      return fail("NOT_ATTACHABLE", `${agent.id} has ended (${agent.status}) and its session is closed: read its output with corral logs ${agent.id}`);
    }
    const command = this.runners.get("tmux")?.attachCommand(agent.id) ?? null;
    if (command === null) return fail("NOT_ATTACHABLE", `${agent.id} runs in tmux, but ${TMUX_MISSING}`);
    return ok(command);
  }

  /** The agent a token belongs to: the agent server acts for it alone. */
  authenticate(token: string | undefined): Result<AgentRecord> {
    if (token === undefined || token === "") {
      return fail("AUTH_REFUSED", "no CORRAL_AGENT_TOKEN in this server's environment: only an agent launched by corral can use these tools");
    }
    const agent = this.store.agents.byTokenHash(hashToken(token));
    if (agent === null) return fail("AUTH_REFUSED", "CORRAL_AGENT_TOKEN matches no agent in this state dir (check CORRAL_HOME)");
    return ok(agent);
  }

  /** The agent says it is done; it becomes terminal when its process exits. */
  claimDone(id: AgentId): Result<void> {
    return this.store.writeNow(() => this.store.agents.claimDone(id));
  }

  /** kill, for a caller that names the task too: an agent of another task is refused. */
  async killInTask(rawTaskId: string, rawAgentId: string, reason?: string): Promise<Result<KillResult>> {
    const agent = this.findAgent(rawTaskId, rawAgentId);
    if (!agent.ok) return agent;
    return this.kill(agent.value.id, reason);
  }

  /**
   * Resolves once the agent's cleanup has finished (done or partial), whichever process runs
   * it — or, past the timeout, with the record as it stands, so a caller never hangs on a
   * cleanup another process left unfinished.
   */
  async whenCleaned(id: AgentId, timeoutMs = 60_000): Promise<AgentRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.inFlight.get(id);
      const agent = this.store.agents.get(id);
      if (agent === null) throw new Error(`no agent ${id}`);
      if (agent.cleanupStatus === "done" || agent.cleanupStatus === "partial" || Date.now() > deadline) return agent;
      await sleep(CLEANED_POLL_MS);
    }
  }

  cleanupRecord(id: AgentId): CleanupRecordView {
    const agent = this.store.agents.get(id);
    if (agent === null) return { agentId: id, status: "pending", attempts: 0, steps: [] };
    return cleanupView(agent, this.store.cleanupSteps.forAgent(id));
  }

  /** A task's agents, counts, hierarchy, latest progress and findings, and limits in use. */
  status(rawTaskId: string): Result<TaskStatusView> {
    const task = this.findTask(rawTaskId);
    if (!task.ok) return task;
    return ok({ ...taskStatus(this.store, this.config, task.value), database: this.database() });
  }

  /** Whether the database takes writes now (asked without waiting), who holds its lock, what waits for it. */
  database(): DatabaseView {
    const writable = this.store.writableNow();
    const pendingEnds = this.pendingCount();
    if (!writable) {
      return { writable, lockedBy: this.store.lockHolders(), pendingEnds, note: this.store.lockedError().message };
    }
    const note = pendingEnds === 0 ? null : `${pendingEnds} agents' ends wait in ${this.pending.dir} and are recorded at the next retry`;
    return { writable, lockedBy: [], pendingEnds, note };
  }

  /** Every progress report and finding of a task, oldest first. */
  timeline(rawTaskId: string): Result<EventView[]> {
    const task = this.findTask(rawTaskId);
    if (!task.ok) return task;
    return ok(this.store.events.forTask(task.value.id).map(eventView));
  }

  /** Every agent of every task, or only the ones not yet ended. */
  agents(all: boolean): AgentView[] {
    return this.store.agents.summaries(!all).map(agentView);
  }

  listTasks(): TaskSummaryView[] {
    return this.store.tasks.list().map(taskSummary);
  }

  /** An agent's output from its live log or its archive, shaped by the query. */
  async output(rawTaskId: string, rawAgentId: string, rawQuery: OutputQuery): Promise<Result<AgentOutputView>> {
    const query = parseOutputQuery(rawQuery);
    if (!query.ok) return query;
    const agent = this.findAgent(rawTaskId, rawAgentId);
    if (!agent.ok) return agent;
    return ok(await readAgentOutput(agent.value, query.value, this.backends.get(agent.value.backend)?.parseLine ?? null));
  }

  /**
   * Waits until any or all of the agents (default: every agent of the task) have ended, or
   * the timeout passes; `onTick` is called on every poll with how many have ended.
   */
  async waitForAgents(
    rawTaskId: string,
    rawAgentIds: readonly string[] | undefined,
    mode: "any" | "all",
    timeoutMs: number,
    onTick: (ended: number, total: number) => void | Promise<void> = () => undefined,
  ): Promise<Result<{ satisfied: boolean; agents: AgentView[] }>> {
    const task = this.findTask(rawTaskId);
    if (!task.ok) return task;
    // Each id is read on every poll: a list repeating ids would multiply that work for nothing.
    const ids = [...new Set(rawAgentIds ?? this.store.agents.forTask(task.value.id).map((a) => a.id))];
    for (const id of ids) {
      const agent = this.findAgent(rawTaskId, id);
      if (!agent.ok) return agent;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const agents = ids.map((id) => this.store.agents.summary(id as AgentId) as AgentSummary);
      const ended = agents.filter((a) => isTerminal(a.status)).length;
      await onTick(ended, agents.length);
      const satisfied = mode === "any" ? ended > 0 || agents.length === 0 : ended === agents.length;
      if (satisfied || Date.now() >= deadline) return ok({ satisfied, agents: agents.map(agentView) });
      await sleep(Math.min(WAIT_POLL_MS, Math.max(1, deadline - Date.now())));
    }
  }

  private findTask(rawTaskId: string): Result<TaskRecord> {
    const id = parseInput(TaskIdSchema, rawTaskId);
    if (!id.ok) return fail("INVALID_ID", `task_id: ${id.error.message.replace(/^input: /, "")}`);
    const task = this.store.tasks.get(id.value);
    return task === null ? fail("UNKNOWN_TASK", `no task ${rawTaskId}`) : ok(task);
  }

  private findAgent(rawTaskId: string, rawAgentId: string): Result<AgentRecord> {
    const task = this.findTask(rawTaskId);
    if (!task.ok) return task;
    const agent = this.store.agents.get(rawAgentId as AgentId);
    if (agent === null || agent.taskId !== task.value.id) return fail("UNKNOWN_AGENT", `no agent ${rawAgentId} in task ${rawTaskId}`);
    return ok(agent);
  }

  /** Progress and findings, appended with the agent's and task's counters in one transaction. */
  async report(rawId: string, raw: EventInput): Promise<Result<number>> {
    const input = parseInput(EventInputSchema, raw);
    if (!input.ok) return input;
    const agent = this.store.agents.get(rawId as AgentId);
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`);
    const event = input.value;
    const appended = await this.writeForCall(() =>
      this.store.events.append({
        taskId: agent.taskId,
        agentId: agent.id,
        kind: event.kind,
        at: Date.now(),
        data: event,
        progress: event.kind === "progress" ? (event.progress ?? null) : null,
        message: event.message,
      }),
    );
    if (!appended.ok) return appended;
    if (appended.value === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`);
    return ok(appended.value);
  }

  task(id: TaskId): TaskRecord | null {
    return this.store.tasks.get(id);
  }

  agent(id: AgentId): AgentRecord | null {
    return this.store.agents.get(id);
  }

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

  private async reconcileOnce(): Promise<ReconcileReport> {
    const report = { adopted: [] as AgentId[], terminated: [] as AgentId[], failed: [] as AgentId[], cleanupsTakenOver: [] as AgentId[] };
    if (this.closed) return report;
    // Ends a dead corral kept in the journal go first: they say how its agents ended, which
    // an adoption would otherwise have to guess.
    await this.recordPending();
    if (this.pending.list().length > 0 || !this.store.writableNow()) {
      this.logger.warn("the database cannot be written now: reconciling waits for the next round");
      return report;
    }
    const endings: Promise<unknown>[] = [];
    for (const orphan of this.store.agents.live()) {
      if (sameProcess(orphan.owner, this.owner) || isAlive(orphan.owner)) continue;
      if (orphan.process === null) {
        // Caught mid-launch: whatever it may have started is found by its mark at cleanup.
        const ending = this.end(orphan.id, { status: "failed", reason: "its corral died while launching it", exit: null });
        endings.push(ending.then((won) => won && report.failed.push(orphan.id)));
        continue;
      }
      if (!this.store.agents.adopt(orphan.id, orphan.owner, this.owner)) continue;
      const agent = this.store.agents.get(orphan.id) as AgentRecord;
      if (this.config.orphans === "terminate") {
        report.terminated.push(agent.id);
        endings.push(this.end(agent.id, { status: "killed", reason: "its corral died (orphans=terminate)", exit: null }));
      } else {
        report.adopted.push(agent.id);
        this.watch(agent);
      }
    }
    for (const agent of this.store.agents.cleanupRunning()) {
      const claimer = claimerOf(agent.cleanupClaim);
      if (claimer !== null && isAlive(claimer)) continue;
      const claim = this.newClaim();
      if (!this.store.agents.takeOverCleanup(agent.id, agent.cleanupClaim, claim)) continue;
      report.cleanupsTakenOver.push(agent.id);
      endings.push(this.track(agent.id, this.cleanup(agent.id, claim, CLEANUP_STEPS)));
    }
    await Promise.all(endings);
    await this.retryCleanups();
    const changed = Object.values(report).some((ids) => ids.length > 0);
    if (changed) this.logger.info(report, "reconciled what a dead corral left");
    return report;
  }

  /** Follows an adopted agent: its stream, and its end, which only /proc can show. */
  private watch(agent: AgentRecord): void {
    if (agent.process === null) return;
    this.adopted.set(agent.id, { pid: agent.process.pid, startTime: agent.process.startTime });
    const parseLine = this.backends.get(agent.backend)?.parseLine ?? null;
    if (parseLine !== null) this.streams.follow(agent.id, parseLine);
    if (this.watchTimer !== null) return;
    this.watchTimer = setInterval(() => {
      for (const [id, root] of this.adopted) {
        if (isAlive(root)) continue;
        this.adopted.delete(id);
        void this.onAdoptedExit(id).catch((cause: unknown) =>
          this.logger.error({ agent: id, err: describeUnknown(cause) }, "recording an adopted agent's end failed"),
        );
      }
      if (this.adopted.size === 0 && this.watchTimer !== null) {
        clearInterval(this.watchTimer);
        this.watchTimer = null;
      }
    }, WATCH_POLL_MS);
    this.watchTimer.unref();
  }

  /** An adopted agent ended: its status is known when its runner kept it, else it is lost. */
  private async onAdoptedExit(id: AgentId): Promise<void> {
    const agent = this.store.agents.get(id);
    if (agent === null) return;
    const recorded = (await this.runners.get(agent.runner)?.recordedExit(agent.agentDir)) ?? null;
    if (recorded !== null) return this.onExit(id, recorded);
    return this.onLostExit(id, "it ended while no corral was its parent");
  }

  /**
   * An adopted agent's process is gone and its exit status with it (only a parent can read
   * it): its stream's final result, when it has one, tells how it ended.
   */
  private async onLostExit(id: AgentId, why: string): Promise<void> {
    if (this.closed) return;
    const agent = this.store.agents.get(id);
    if (agent === null) return;
    const parseLine = this.backends.get(agent.backend)?.parseLine ?? null;
    // Its stream decides how it ended: reading it ends in a write, which waits out a lock.
    while (parseLine !== null) {
      try {
        this.streams.drain(id, parseLine);
        break;
      } catch (cause) {
        if (!isUnwritable(cause) || !(await this.whenWritable())) throw cause;
      }
    }
    const result = this.store.agents.get(id)?.stream.result ?? null;
    await this.end(id, {
      status: result === null || result.isError ? "failed" : "completed",
      reason: result === null ? `its exit status was lost: ${why}` : null,
      exit: null,
    });
  }

  /**
   * Applies the reaper's rules (see planReap) to the running agents this process owns, and
   * returns the agents it acted on.
   */
  async reap(
    now = Date.now(),
  ): Promise<{ timedOut: AgentId[]; stuck: AgentId[]; overDiskBudget: AgentId[]; atLimit: AgentId[]; warned: AgentId[] }> {
    const acted = {
      timedOut: [] as AgentId[],
      stuck: [] as AgentId[],
      overDiskBudget: [] as AgentId[],
      atLimit: [] as AgentId[],
      warned: [] as AgentId[],
    };
    // A locked database would make each of its writes wait: the reaper waits for the next round.
    if (this.closed || !this.store.writableNow()) return acted;
    const probe: ReapProbe = {
      modifiedAt,
      logBytes: (path) => statOrNull(path)?.size ?? 0,
      usage: (agent) => {
        const scope = scopeOf(agent);
        return scope === null ? [] : usageOf(discover(scope).processes);
      },
    };
    const endings: Promise<unknown>[] = [];
    for (const action of planReap(this.store.agents.liveOwnedBy(this.owner), this.config, now, probe)) {
      switch (action.kind) {
        case "end":
          if (action.why === "time") acted.timedOut.push(action.id);
          else if (action.why === "stuck") acted.stuck.push(action.id);
          else if (action.why === "limit") acted.atLimit.push(action.id);
          else acted.overDiskBudget.push(action.id);
          endings.push(this.end(action.id, { status: action.status, reason: action.reason, exit: null }));
          break;
        case "mark_stuck":
          acted.stuck.push(action.id);
          if (this.store.agents.markStuck(action.id, action.since)) this.logger.warn({ agent: action.id }, action.reason);
          break;
        case "clear_stuck":
          this.store.agents.clearStuck(action.id);
          break;
        case "limit_warnings":
          if (action.warnings.length > 0) acted.warned.push(action.id);
          this.store.agents.setLimitWarnings(action.id, action.warnings);
          for (const warning of action.warnings) this.logger.warn({ agent: action.id }, warning);
          break;
      }
    }
    await Promise.all(endings);
    return acted;
  }

  private gcInBackground(): void {
    // gc records what it deleted: with the database locked it waits for its next round.
    if (this.closed || !this.store.writableNow()) return;
    try {
      this.gc();
      this.ballast.ensure();
    } catch (cause) {
      this.logger.warn({ err: describeUnknown(cause) }, "gc failed; it runs again later");
    }
  }

  /** What this state dir holds right now: each running agent's processes and log, disk per task, cleanup health. */
  stats(): CorralStats {
    const agents = this.store.agents.live().flatMap((agent) => {
      const scope = scopeOf(agent);
      if (agent.status !== "running" || scope === null) return [];
      const usage = usageOf(discover(scope).processes);
      const runner = this.runners.get(agent.runner) ?? null;
      const kept = runner === null ? [] : usageOf(runner.companions(scope.root));
      return [
        {
          agentId: agent.id,
          taskId: agent.taskId,
          processes: usage.length,
          residentMb: usage.reduce((sum, p) => sum + p.residentMb, 0),
          cpuSeconds: usage.reduce((sum, p) => sum + p.cpuSeconds, 0),
          openFiles: usage.reduce((sum, p) => sum + p.openFiles, 0),
          logBytes: statOrNull(agent.logPath)?.size ?? 0,
          runner: { kind: agent.runner, processes: kept.length, residentMb: kept.reduce((sum, p) => sum + p.residentMb, 0) },
        },
      ];
    });
    return { agents, disk: this.gc(true).usage, cleanupHealth: this.cleanupHealth() };
  }

  cleanupHealth(): CleanupHealthView {
    return cleanupHealth(this.store);
  }

  /** Retention, disk budgets and stale temp files; see collectGarbage. */
  gc(dryRun = false): GcReport {
    const report = collectGarbage(this.store, this.workspaces, this.config, dryRun);
    if (!dryRun && (report.archivesDeleted.length > 0 || report.tempRemoved.length > 0)) {
      this.logger.info({ archives: report.archivesDeleted.length, temp: report.tempRemoved.length, bytes: report.bytesFreed }, "gc");
    }
    return report;
  }

  private newClaim(): string {
    return `${this.owner.pid}:${this.owner.startTime}:${randomBytes(4).toString("hex")}`;
  }

  /** Runs again the failed steps of every partial cleanup; returns how many it took on. */
  async retryCleanups(): Promise<number> {
    if (this.closed || !this.store.writableNow()) return 0;
    let taken = 0;
    for (const agent of this.store.agents.cleanupPartial()) {
      const claim = this.newClaim();
      if (!this.store.agents.claimRetry(agent.id, claim)) continue;
      taken += 1;
      const last = this.store.cleanupSteps.forAgent(agent.id).filter((s) => s.attempt === agent.cleanupAttempts);
      const failedSteps = new Set(last.filter((s) => s.outcome === "failed").map((s) => s.step));
      await this.track(agent.id, this.cleanup(agent.id, claim, stepsToRetry(failedSteps)));
    }
    return taken;
  }

  /**
   * Kills every live agent this process owns, in parallel, then closes; with
   * onShutdown=detach it leaves them running for the next coordinator to adopt. The grace
   * period shrinks so that the whole shutdown fits in shutdownDeadlineMs: the SIGTERM phase
   * gets half of it, the rest is left for SIGKILL, verification and cleanup.
   */
  async shutdown(reason = "corral shut down"): Promise<void> {
    if (this.closed) return;
    if (this.config.onShutdown === "terminate") {
      this.graceMs = Math.min(this.config.graceMs, Math.floor(this.config.shutdownDeadlineMs / 2));
      await Promise.all(this.store.agents.liveOwnedBy(this.owner).map((agent) => this.kill(agent.id, reason)));
    }
    await this.close();
  }

  /** Waits for cleanups under way and closes the store. Agents still running keep running. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retryTimer);
    if (this.reconcileTimer !== null) clearInterval(this.reconcileTimer);
    if (this.reapTimer !== null) clearInterval(this.reapTimer);
    if (this.gcTimer !== null) clearInterval(this.gcTimer);
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    if (this.pendingTimer !== null) clearInterval(this.pendingTimer);
    this.streams.stop();
    await this.reconciling;
    await Promise.all(this.inFlight.values());
    this.store.close();
  }
}

/** The process that made a cleanup claim (`pid:starttime:nonce`), or null for no claim. */
function claimerOf(claim: string | null): ProcessIdentity | null {
  const [pid, startTime] = claim?.split(":") ?? [];
  if (pid === undefined || startTime === undefined) return null;
  return { pid: Number(pid), startTime };
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EACCES") return false;
    throw cause;
  }
}
