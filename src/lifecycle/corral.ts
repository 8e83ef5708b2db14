import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readdirSync, realpathSync, renameSync, rmSync, statfsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { AGENT_TOKEN_VARIABLE, claudeBackend } from "../backends/claude.js";
import { commandBackend } from "../backends/command.js";
import { RELAY_VARIABLE, type Backend, type BackendPlan } from "../backends/backend.js";
import { isTerminal, statusForExit, type ExitStatus } from "../domain/agent-state.js";
import type { Config, RunnerKind } from "../domain/config.js";
import { anyLimit, limitsOf, prlimitOptions } from "../domain/resource-limits.js";
import { CorralFailure, describeUnknown, fail, ok, unwrap, type CorralError, type Result } from "../domain/errors.js";
import { MAX_WAIT_IDS } from "../domain/bounds.js";
import { newAgentId, newTaskId, type AgentId, type TaskId } from "../domain/ids.js";
import { bwrapArgv, findBwrap } from "../runners/bwrap.js";
import { findExecutable } from "../runners/executables.js";
import { ProcessRunner } from "../runners/process-runner.js";
import type { Runner } from "../runners/runner.js";
import { findTmuxTools, TMUX_MISSING, TmuxRunner } from "../runners/tmux-runner.js";
import type { AgentRecord, AgentSummary, TaskRecord } from "../store/records.js";
import { isUnwritable } from "../store/database.js";
import { diskFullGuard } from "../store/guard.js";
import { Store } from "../store/store.js";
import { cgroupUsage, Cgroups, type CgroupCaps } from "../supervisor/cgroup.js";
import { ancestry } from "../supervisor/ancestry.js";
import { discover } from "../supervisor/discover.js";
import { identify, isAlive, sameProcess, type ProcessIdentity } from "../supervisor/identity.js";
import { usageOf } from "../supervisor/usage.js";
import { CLEANUP_STEPS, MARK_NAME, runCleanup, scopeOf, stepsToRetry, type CleanupContext, type CleanupStep } from "./cleanup.js";
import {
  CreateTaskInputSchema,
  DeployInputSchema,
  EventInputSchema,
  parseAgentId,
  parseInput,
  parseTaskId,
  type CreateTaskInput,
  type DeployInput,
  type EventInput,
} from "./inputs.js";
import { parseOutputQuery, readAgentOutput, type AgentOutputView, type OutputQuery } from "./agent-output.js";
import { Ballast } from "./ballast.js";
import { makeDirs, workingDirectory } from "./directories.js";
import { containedView } from "./containment.js";
import { Relays, type RelayHandler } from "./relays.js";
import { failpoint } from "./failpoints.js";
import { modifiedAt, statOrNull } from "./file-stat.js";
import { spareJournalDir, PendingRecords, type PendingEnding } from "./pending-records.js";
import { collectGarbage, type GcReport } from "./gc.js";
import { createLogger } from "./logger.js";
import { lifetimeOf, planReap, type ReapProbe } from "./reaper.js";
import { planDiskFloor } from "./disk-floor.js";
import { corralEntry, corralRoot } from "./self.js";
import { hashToken, newToken } from "./tokens.js";
import { StreamFollower } from "./stream-follower.js";
import { agentView, cleanupView, eventView, taskStatus, taskSummary } from "./task-status.js";
import type { AgentView, CleanupHealthView, CleanupRecordView, DatabaseView, EventView, PageView, TaskStatusView, TaskSummaryView } from "./views.js";
import { pageView, parsePage, WHOLE, type PageQuery } from "./paging.js";
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
    /** The agent's own cgroup, which then meters its CPU (and memory, where that controller is enabled). */
    cgroup: string | null;
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
   * short-lived, does not (it would adopt orphans only to hand them back when it exits); a caller
   * that drives reconcile() and reap() itself need not.
   */
  readonly watch: boolean;
}

export interface WaitOutcome {
  readonly satisfied: boolean;
  readonly total: number;
  readonly ended: number;
  /** Those that ended first, then the others; all of them unless the caller capped the list. */
  readonly agents: AgentView[];
  readonly truncated?: true;
}

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

const CLEANED_POLL_MS = 20;
const WATCH_POLL_MS = 200;
const WAIT_POLL_MS = 100;
const STREAM_POLL_MS = 250;
/** How often the database file is checked to still be the one open (a stat). */
const STORE_CHECK_MS = 1000;
/** How often the free space under the state dir is checked against diskReserveMb. */
const DISK_CHECK_MS = 1000;
const LAUNCH_RECORD_WAIT_MS = 5000;
const LAUNCH_RECORD_POLL_MS = 10;
/** How long a call waits (with the event loop free) for a database another process has locked. */
const CALL_WRITE_WAIT_MS = 1000;
/**
 * How long an agent's end waits for the database (event loop free) before it is kept in the
 * journal instead: long enough that another corral's ordinary writes never send it there.
 */
const END_WRITE_WAIT_MS = 250;
/** How long a closing corral waits for the exits of agents it saw die to be handled. */
const EXIT_HANDLED_WAIT_MS = 1000;
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
  /** The dead corral each adopted agent came from: shutdown hands the agent back, never kills it. */
  private readonly adoptedFrom = new Map<AgentId, ProcessIdentity>();
  private watchTimer: NodeJS.Timeout | null = null;
  private readonly storeTimer: NodeJS.Timeout;
  private diskTimer: NodeJS.Timeout | null = null;
  /** Each running agent's log size at the last disk check. */
  private readonly logSizes = new Map<AgentId, number>();
  /** Set once the database file was deleted or replaced underneath: no more work is taken. */
  private lostStore: { readonly error: CorralError; readonly rescue: string | null } | null = null;
  /** How each agent this process launched is seen to end, until it has been. */
  private readonly exitsHandled = new Map<AgentId, { readonly root: ProcessIdentity; readonly handled: Promise<void> }>();
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
  /** The parent of this state dir's agents' cgroups, or null when agents run without one. */
  readonly cgroups: Cgroups | null;
  private readonly caps: CgroupCaps;
  /** bwrap, when agents run contained (see containedView); null when they see what corral sees. */
  readonly bwrap: string | null;
  private readonly relays: Relays;

  private constructor(
    config: Config,
    store: Store,
    logger: Logger,
    owner: ProcessIdentity,
    tools: {
      tini: string | null;
      prlimit: string | null;
      tmux: { tmux: string; setsid: string } | null;
      cgroups: Cgroups | null;
      bwrap: string | null;
    },
    ballast: Ballast,
    options: OpenOptions,
  ) {
    this.ballast = ballast;
    this.cgroups = tools.cgroups;
    this.caps = capsOf(config);
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
    this.bwrap = tools.bwrap;
    this.relays = new Relays((id) => this.workspaces.relayDir(id));
    this.streams = new StreamFollower(store, logger, STREAM_POLL_MS);
    this.pending = new PendingRecords(join(config.home, "pending"), logger, spareJournalDir(config.home));
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
    this.storeTimer = setInterval(() => void this.usable(), STORE_CHECK_MS);
    this.storeTimer.unref();
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
    let bwrap: string | null = null;
    if (config.containment !== "none") {
      const found = findBwrap(process.env.PATH);
      if (found.ok) bwrap = found.value;
      else if (config.containment === "bwrap") return fail("CONFIG_INVALID", `containment is bwrap but ${found.error.message}; or set CORRAL_CONTAINMENT=none`);
    }
    const prlimit = anyLimit(limitsOf(config)) ? findExecutable("prlimit", process.env.PATH) : null;
    if (anyLimit(limitsOf(config)) && prlimit === null) {
      return fail("CONFIG_INVALID", "agent resource limits are set but prlimit is not on PATH; install util-linux or unset CORRAL_AGENT_*");
    }
    const made = makeDirs(config.home, 0o700);
    if (!made.ok) return fail("DB_UNAVAILABLE", `cannot create the state dir ${config.home}: ${made.error.message}`);
    const dbPath = join(config.home, "corral.db");
    const orphaned = workspacesWithoutStore(config.home, dbPath);
    if (orphaned > 0) {
      return fail(
        "DB_MISSING",
        `${dbPath} is missing but the state dir holds ${orphaned} task workspaces: the database was deleted or moved, and a new empty one would hide every agent recorded there. Put it back (a corral that saw it go saved a copy as corral.db.rescued-*), or move ${join(config.home, "workspaces")} aside to start afresh`,
      );
    }
    const ballast = new Ballast(join(config.home, "ballast"), Math.floor(config.ballastMb * 1024 * 1024));
    ballast.ensure();
    const store = Store.open(
      dbPath,
      diskFullGuard(() => {
        const freed = ballast.release();
        if (freed) logger.warn("the disk is full: released the ballast so that corral can still record");
        return freed;
      }),
    );
    if (!store.ok) return store;
    const cgroups = openCgroups(config);
    if (!cgroups.ok) {
      store.value.close();
      return cgroups;
    }
    return ok(new Corral(config, store.value, logger, owner, { tini, prlimit, tmux, cgroups: cgroups.value, bwrap }, ballast, options));
  }

  createTask(raw: CreateTaskInput): Result<TaskRecord> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    const input = parseInput(CreateTaskInputSchema, raw);
    if (!input.ok) return input;
    const clientCwd = input.value.clientCwd === undefined ? null : workingDirectory(input.value.clientCwd, "client_cwd");
    if (clientCwd !== null && !clientCwd.ok) return clientCwd;
    const id = newTaskId();
    const workspace = this.workspaces.createTask(id);
    if (!workspace.ok) return workspace;
    const context = { ...input.value.context, ...(clientCwd === null ? {} : { clientCwd: clientCwd.value }) };
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
    const usable = this.usable();
    if (!usable.ok) return usable;
    const input = parseInput(DeployInputSchema, raw);
    if (!input.ok) return input;
    const { taskId, agentType, prompt } = input.value;
    const task = this.store.tasks.get(taskId);
    if (task === null) return fail("UNKNOWN_TASK", `no task ${taskId}`, "task_id");
    const parent = input.value.parentId === undefined ? null : this.store.agents.get(input.value.parentId);
    const chosen = this.chooseLaunch(input.value, parent?.runner ?? null);
    if (!chosen.ok) return chosen;
    const { backend, runner, command } = chosen.value;
    const where = workingDirectory(input.value.cwd ?? stringOr(task.context.clientCwd, task.workspace), "cwd");
    if (!where.ok) return where;
    const cwd = where.value;
    const space = this.freeSpaceCheck();
    if (!space.ok) return space;
    if (this.bwrap !== null && !this.relays.serving) {
      return fail("LAUNCH_FAILED", "agents run contained (bwrap) but this corral process does not serve their tools; deploy through corral serve or corral run");
    }
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
        spec: {
          command,
          model: input.value.model ?? null,
          effort: input.value.effort ?? null,
          maxRuntimeMs: input.value.maxRuntimeMs ?? null,
          ...(this.bwrap === null ? {} : { containment: "bwrap" }),
        },
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

    // A contained agent's tools are served on its relay socket, which must listen before it starts.
    const relay: Result<string | null> = this.bwrap === null ? ok(null) : await this.relays.listen(agentId);
    const plan = !relay.ok ? relay : backend.plan({
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
      relay: relay.value,
    });
    const launched = plan.ok ? await this.launch(agent, runner, backend, plan.value, mark, relay.ok ? relay.value : null) : plan;
    if (!launched.ok) {
      // The end below says it failed; a refused launch record changes nothing it says.
      this.store.writeNow(() => this.store.agents.recordLaunch(agentId, null, Date.now()));
      await this.end(agentId, { status: "failed", reason: launched.error.message, exit: null });
      return fail("LAUNCH_FAILED", `agent ${agentId} failed to launch and was cleaned up: ${launched.error.message}`);
    }
    return ok(this.store.agents.get(agentId) as AgentRecord);
  }

  /**
   * What deploy checks of its input before it needs a task: the fields, the backend and its
   * command, the runner, the cwd when one is given. Creates nothing: a caller that would make a
   * task for its agents checks them first.
   */
  checkDeploy(raw: Omit<DeployInput, "taskId">): Result<void> {
    const input = parseInput(DeployInputSchema.omit({ taskId: true }), raw);
    if (!input.ok) return input;
    const chosen = this.chooseLaunch(input.value, null);
    if (!chosen.ok) return chosen;
    const cwd = input.value.cwd === undefined ? null : workingDirectory(input.value.cwd, "cwd");
    return cwd === null || cwd.ok ? ok(undefined) : cwd;
  }

  private chooseLaunch(
    input: { backend?: string | undefined; command?: string[] | undefined; runner?: RunnerKind | undefined },
    parentRunner: RunnerKind | null,
  ): Result<{ backend: Backend; runner: Runner; command: string[] | null }> {
    const command = input.command ?? null;
    const backendName = input.backend ?? (command === null ? "claude" : "command");
    const backend = this.backends.get(backendName);
    if (backend === undefined) return fail("INVALID_INPUT", `no backend ${backendName}`, "backend");
    const checked = backend.check({ command });
    if (!checked.ok) return checked;
    // A child runs where its parent does unless told otherwise: a person watching the parent
    // in tmux can watch its children there too.
    const runnerKind = input.runner ?? (parentRunner === "tmux" ? "tmux" : this.config.runner);
    const runner = this.runners.get(runnerKind);
    if (runner === undefined) return fail("INVALID_INPUT", `${runnerKind} is not available: ${TMUX_MISSING}`, "runner");
    return ok({ backend, runner, command });
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

  private async launch(agent: AgentRecord, runner: Runner, backend: Backend, plan: BackendPlan, mark: string, relay: string | null): Promise<Result<void>> {
    let started;
    let cgroup: string | null = null;
    try {
      const written = this.workspaces.writeAgentFiles(agent.agentDir, plan.dirs, plan.files);
      if (!written.ok) return written;
      // Recorded before anything starts in it: whoever cleans the agent, after any crash, finds it.
      if (this.cgroups !== null) {
        const made = this.cgroups.create(agent.id, this.caps);
        if (!made.ok) return made;
        cgroup = made.value;
        const path = cgroup;
        const recorded = await this.writeForCall(() => this.store.agents.recordCgroup(agent.id, path));
        if (!recorded.ok) return recorded;
      }
      const argv = relay === null || this.bwrap === null ? ok(plan.argv) : this.containedArgv(agent, this.bwrap, plan.argv);
      if (!argv.ok) return argv;
      started = runner.start({
        cgroup,
        name: agent.id,
        agentDir: agent.agentDir,
        // An agent started by an agent server must not inherit that server's token: only its
        // own backend gives it one.
        plan: { argv: argv.value, env: { [AGENT_TOKEN_VARIABLE]: null, [RELAY_VARIABLE]: relay, ...plan.env }, cwd: agent.cwd, stdinPath: plan.stdin === null ? null : join(agent.agentDir, plan.stdin) },
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
        { root: { pid: proc.pid, startTime: proc.startTime }, sid: proc.sid, subreaper: proc.subreaper, mark: `${MARK_NAME}=${mark}`, cgroup },
        { graceMs: this.graceMs },
      );
      return recorded;
    }
    this.unended.add(agent.id);
    // Every corral that launches agents watches the disk under them, watching or not: a
    // flood fills a disk in seconds, far sooner than a reap.
    this.diskTimer ??= setInterval(() => this.inBackground("checking the disk reserve", () => this.checkDiskFloor()), DISK_CHECK_MS);
    this.diskTimer.unref();
    if (backend.parseLine !== null) this.streams.follow(agent.id, backend.parseLine);
    const handled = proc.exited
      .then((exit) => (exit === null ? this.onLostExit(agent.id, `the ${runner.kind} runner could not read it`) : this.onExit(agent.id, exit)))
      .catch((cause: unknown) => this.logger.error({ agent: agent.id, err: describeUnknown(cause) }, "recording an exit failed"));
    this.exitsHandled.set(agent.id, { root: { pid: proc.pid, startTime: proc.startTime }, handled });
    void handled.finally(() => this.exitsHandled.delete(agent.id));
    return ok(undefined);
  }

  /** The agent's argv inside its bubblewrap view (see containedView). */
  private containedArgv(agent: AgentRecord, bwrap: string, argv: readonly string[]): Result<readonly string[]> {
    const [program, ...args] = argv;
    const resolved = program === undefined ? null : findExecutable(program, process.env.PATH, agent.cwd);
    if (resolved === null) return fail("LAUNCH_FAILED", `cannot run ${program ?? "an empty command"}: not found or not executable on PATH`);
    const task = this.store.tasks.get(agent.taskId);
    if (task === null) return fail("UNKNOWN_TASK", `no task ${agent.taskId}`);
    const view = containedView(
      {
        home: this.config.home,
        userHome: homedir(),
        workspace: task.workspace,
        cwd: agent.cwd,
        agentDir: agent.agentDir,
        relayDir: this.workspaces.relayDir(agent.id),
        // The program, the node that runs corral's agent server, and corral itself, wherever
        // they are installed (a home dir too).
        needs: [dirname(realpathSync(resolved)), dirname(process.execPath), corralRoot()],
      },
      this.config,
    );
    if (!view.ok) return view;
    return ok([...bwrapArgv(bwrap, view.value, agent.cwd), resolved, ...args]);
  }

  /**
   * Serves contained agents' tools on their relay sockets, through `handler` (the MCP layer's);
   * a corral process that deploys or adopts contained agents needs it.
   */
  serveAgentsWith(handler: RelayHandler): void {
    this.relays.serveWith(handler);
  }

  private async onExit(id: AgentId, exit: ExitStatus): Promise<void> {
    // When it ended, not when that could be written: a kill that comes while the database
    // refuses the exit must be replayed after it, and lose to it.
    const seenAt = Date.now();
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
      await this.pending.add({ kind: "ending", agentId: id, ...ending, at: seenAt, stopped: null });
      this.schedulePending();
      return;
    }
    const recorded = await this.store.writeSoon(() => this.store.agents.recordExit(id, exit), Date.now() + END_WRITE_WAIT_MS);
    if (!recorded.ok) {
      await this.defer(id, ending, seenAt, recorded.error);
      return;
    }
    await this.end(id, ending);
  }

  /** The terminal transition; the winner runs the cleanup. False for everyone else. */
  private async end(id: AgentId, ending: Ending): Promise<boolean> {
    // Whoever ends it, an ended agent's tools are no longer served by this process.
    this.relays.close(id);
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
    const parsed = parseAgentId(rawId);
    if (!parsed.ok) return parsed;
    const id = parsed.value;
    const agent = this.store.agents.get(id);
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`, "agent_id");
    await Promise.all(this.store.agents.liveChildren(id).map((child) => this.kill(child.id, `parent ${id} was killed`)));
    const outcome = await this.endOrDefer(id, { status: "killed", reason, exit: null });
    if (outcome !== "won" && outcome !== "lost" && !outcome.recordedSince) {
      const { signalled, survivors } = outcome.stopped;
      const verdict = survivors.length === 0 ? "verified gone" : `but ${survivors.join(", ")} survived and are retried at cleanup`;
      return fail(
        outcome.error.code,
        `${id} was stopped (${signalled.length} processes signalled, ${verdict}); its end (killed) is kept in corral's journal and recorded, its cleanup run, as soon as the database takes writes. ${outcome.error.message}`,
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
    const id = parseAgentId(rawId);
    const agent = id.ok ? this.store.agents.get(id.value) : null;
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`, "agent_id");
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

  /**
   * The agent a token belongs to, for an agent server running as process `caller`: the agent
   * server acts for it alone. A token is a string that can be copied (another agent of the
   * same user can read it from /proc/<pid>/environ), so it is accepted only from inside the
   * agent's own process tree, and only while the agent lives.
   */
  async authenticate(token: string | undefined, caller: number): Promise<Result<AgentRecord>> {
    if (token === undefined || token === "") {
      return fail("AUTH_REFUSED", "no CORRAL_AGENT_TOKEN in this server's environment: only an agent launched by corral can use these tools");
    }
    const found = this.store.agents.byTokenHash(hashToken(token));
    if (found === null) return fail("AUTH_REFUSED", "CORRAL_AGENT_TOKEN matches no agent in this state dir (check CORRAL_HOME)");
    const agent = await this.launchRecorded(found);
    const ended = this.refuseEnded(agent);
    if (!ended.ok) return ended;
    if (agent.process === null) {
      return fail("AUTH_REFUSED", `agent ${agent.id} has no process on record: its launch did not finish, so nothing can act for it`);
    }
    const root = { pid: agent.process.pid, startTime: agent.process.startTime };
    const otherRoots = new Map<string, AgentId>();
    for (const live of this.store.agents.live()) {
      if (live.process !== null && live.id !== agent.id) otherRoots.set(`${live.process.pid}:${live.process.startTime}`, live.id);
    }
    // The nearest agent root above the caller decides: a child agent has its parent's root
    // among its ancestors too, and must not act for its parent.
    for (const ancestor of ancestry(caller)) {
      if (sameProcess(ancestor, root)) return ok(agent);
      const other = otherRoots.get(`${ancestor.pid}:${ancestor.startTime}`);
      if (other !== undefined) {
        return fail("AUTH_REFUSED", `this server runs inside agent ${other}, not agent ${agent.id}: an agent can act only for itself, whatever token it holds`);
      }
    }
    return fail(
      "AUTH_REFUSED",
      `this server does not run inside agent ${agent.id}'s processes (root pid ${root.pid}): its token is accepted only from the agent it was issued to`,
    );
  }

  /**
   * The agent, while it lives: for a caller whose right to act for it is settled (a relay
   * socket names it; a token was checked against the process tree once).
   */
  living(id: AgentId): Result<AgentRecord> {
    const agent = this.store.agents.get(id);
    if (agent === null) return fail("AUTH_REFUSED", `agent ${id} is not in this state dir`);
    return this.refuseEnded(agent);
  }

  private refuseEnded(agent: AgentRecord): Result<AgentRecord> {
    if (!isTerminal(agent.status)) return ok(agent);
    return fail("AUTH_REFUSED", `agent ${agent.id} has ended (${agent.status}): nothing more is accepted in its name`);
  }

  /**
   * The row records the agent's process just after the launch; an agent server that starts
   * in that moment waits for it, while the launching corral lives.
   */
  private async launchRecorded(agent: AgentRecord): Promise<AgentRecord> {
    const deadline = performance.now() + LAUNCH_RECORD_WAIT_MS;
    let current = agent;
    while (current.startedAt === null && !isTerminal(current.status) && isAlive(current.owner) && performance.now() < deadline) {
      await sleep(LAUNCH_RECORD_POLL_MS);
      current = this.store.agents.get(agent.id) ?? current;
    }
    return current;
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
    if (agent === null) return { agentId: id, status: "pending", attempts: 0, verifiedBy: null, blindSpots: [], steps: [] };
    return cleanupView(agent, this.store.cleanupSteps.forAgent(id));
  }

  /** A task's agents, counts, hierarchy, latest progress and findings, and limits in use. */
  status(rawTaskId: string, rawPage?: PageQuery): Result<TaskStatusView> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    const task = this.findTask(rawTaskId);
    if (!task.ok) return task;
    const page = rawPage === undefined ? ok(WHOLE) : parsePage(rawPage);
    if (!page.ok) return page;
    return ok({ ...taskStatus(this.store, this.config, task.value, page.value), database: this.database() });
  }

  /** Whether the database takes writes now (asked without waiting), who holds its lock, what waits for it. */
  database(): DatabaseView {
    const writable = this.store.writableNow();
    const pendingEnds = this.pendingCount();
    if (!writable) {
      return { writable, lockedBy: this.store.lockHolders(), pendingEnds, note: this.store.lockedError().message };
    }
    const note = pendingEnds === 0 ? null : `${pendingEnds} agents' ends wait in corral's journal and are recorded at the next retry`;
    return { writable, lockedBy: [], pendingEnds, note };
  }

  /** Every progress report and finding of a task, oldest first. */
  timeline(rawTaskId: string): Result<EventView[]> {
    const usable = this.usable();
    if (!usable.ok) return usable;
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

  /** One page of the tasks, newest first. */
  taskPage(rawPage: PageQuery): Result<{ tasks: TaskSummaryView[]; page: PageView }> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    const page = parsePage(rawPage);
    if (!page.ok) return page;
    const all = this.store.tasks.list();
    const tasks = all.slice(page.value.offset, page.value.offset + page.value.limit).map(taskSummary);
    return ok({ tasks, page: pageView(page.value, tasks.length, all.length) });
  }

  /** An agent's output from its live log or its archive, shaped by the query. */
  async output(rawTaskId: string, rawAgentId: string, rawQuery: OutputQuery): Promise<Result<AgentOutputView>> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    const query = parseOutputQuery(rawQuery);
    if (!query.ok) return query;
    const agent = this.findAgent(rawTaskId, rawAgentId);
    if (!agent.ok) return agent;
    return ok(await readAgentOutput(agent.value, query.value, this.backends.get(agent.value.backend)?.parseLine ?? null));
  }

  /**
   * Waits until any or all of the agents (default: every agent of the task) have ended, or
   * the timeout passes; `onTick` is called on every poll with how many have ended. The reply
   * shows at most `shown` agents, those that ended first.
   */
  async waitForAgents(
    rawTaskId: string,
    rawAgentIds: readonly string[] | undefined,
    mode: "any" | "all",
    timeoutMs: number,
    onTick: (ended: number, total: number) => void | Promise<void> = () => undefined,
    shown = Number.MAX_SAFE_INTEGER,
  ): Promise<Result<WaitOutcome>> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    const task = this.findTask(rawTaskId);
    if (!task.ok) return task;
    if (rawAgentIds !== undefined && rawAgentIds.length > MAX_WAIT_IDS) {
      return fail("INVALID_INPUT", `${rawAgentIds.length} ids, over the limit of ${MAX_WAIT_IDS}; wait on fewer, or leave agent_ids out to wait on the whole task`, "agent_ids");
    }
    // Each id is read on every poll: a list repeating ids would multiply that work for nothing.
    const ids: AgentId[] = [];
    for (const raw of new Set(rawAgentIds ?? this.store.agents.forTask(task.value.id).map((a) => a.id))) {
      const agent = this.findAgent(rawTaskId, raw, "agent_ids");
      if (!agent.ok) return agent;
      ids.push(agent.value.id);
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const agents = ids.map((id) => this.store.agents.summary(id) as AgentSummary);
      const ended = agents.filter((a) => isTerminal(a.status)).length;
      await onTick(ended, agents.length);
      const satisfied = mode === "any" ? ended > 0 || agents.length === 0 : ended === agents.length;
      if (satisfied || Date.now() >= deadline) {
        const endedFirst = [...agents.filter((a) => isTerminal(a.status)), ...agents.filter((a) => !isTerminal(a.status))];
        return ok({
          satisfied,
          total: agents.length,
          ended,
          agents: endedFirst.slice(0, shown).map(agentView),
          ...(agents.length > shown ? { truncated: true } : {}),
        });
      }
      await sleep(Math.min(WAIT_POLL_MS, Math.max(1, deadline - Date.now())));
    }
  }

  /**
   * Whether the database file is still the one this process writes. Once it was deleted or
   * replaced, every write would go where nobody can see it: this corral stops taking work,
   * saves a copy of what it holds, and says how to put it back. Kills still stop processes.
   */
  private usable(): Result<void> {
    if (this.lostStore === null && !this.closed) {
      const why = this.store.lost();
      if (why !== null) {
        const rescue = `${this.store.path}.rescued-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        const saved = this.rescueStore(rescue);
        const message =
          `the database ${why} while this corral was running, so it takes no more work (nothing is written where nobody can see it)` +
          (saved ? `; what it held is saved in ${rescue}: stop corral, move that file to ${this.store.path}, and start it again` : "; its records could not be saved");
        this.lostStore = { error: { code: "STORE_LOST", message }, rescue: saved ? rescue : null };
        this.logger.error({ why, rescue: saved ? rescue : null }, "the database file is gone: no more work is taken");
      }
    }
    return this.lostStore === null ? ok(undefined) : { ok: false, error: this.lostStore.error };
  }

  /** A copy of the open database at `path` (replacing an earlier copy); false when it could not be made. */
  private rescueStore(path: string): boolean {
    const partial = `${path}.partial`;
    try {
      rmSync(partial, { force: true });
      this.store.copyTo(partial);
      chmodSync(partial, 0o600);
      renameSync(partial, path);
      return true;
    } catch (cause) {
      this.logger.error({ err: describeUnknown(cause), path }, "could not save a copy of the database");
      return false;
    }
  }

  private findTask(rawTaskId: string): Result<TaskRecord> {
    const id = parseTaskId(rawTaskId);
    if (!id.ok) return id;
    const task = this.store.tasks.get(id.value);
    return task === null ? fail("UNKNOWN_TASK", `no task ${rawTaskId}`, "task_id") : ok(task);
  }

  private findAgent(rawTaskId: string, rawAgentId: string, field = "agent_id"): Result<AgentRecord> {
    const task = this.findTask(rawTaskId);
    if (!task.ok) return task;
    const id = parseAgentId(rawAgentId, field);
    if (!id.ok) return id;
    const agent = this.store.agents.get(id.value);
    if (agent === null || agent.taskId !== task.value.id) return fail("UNKNOWN_AGENT", `no agent ${rawAgentId} in task ${rawTaskId}`, field);
    return ok(agent);
  }

  /** Progress and findings, appended with the agent's and task's counters in one transaction. */
  async report(rawId: string, raw: EventInput): Promise<Result<number>> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    const input = parseInput(EventInputSchema, raw);
    if (!input.ok) return input;
    const id = parseAgentId(rawId);
    const agent = id.ok ? this.store.agents.get(id.value) : null;
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`, "agent_id");
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
    const report = {
      adopted: [] as AgentId[],
      terminated: [] as AgentId[],
      failed: [] as AgentId[],
      foundEnded: [] as AgentId[],
      cleanupsTakenOver: [] as AgentId[],
      cgroupsRemoved: [] as string[],
    };
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
      if (!isAlive(orphan.process)) {
        // It ended while no corral watched: there is nothing to kill, only its end to record,
        // from the runner's record of its exit status when it kept one.
        report.foundEnded.push(agent.id);
        endings.push(this.onAdoptedExit(agent.id));
        continue;
      }
      if (this.config.orphans === "terminate") {
        report.terminated.push(agent.id);
        endings.push(this.end(agent.id, { status: "killed", reason: "its corral died (orphans=terminate)", exit: null }));
      } else {
        report.adopted.push(agent.id);
        this.adoptedFrom.set(agent.id, orphan.owner);
        this.watch(agent);
        if (agent.spec.containment === "bwrap") await this.relisten(agent.id);
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
    report.cgroupsRemoved.push(...this.removeStaleCgroups());
    const changed = Object.values(report).some((ids) => ids.length > 0);
    if (changed) this.logger.info(report, "reconciled what a dead corral left");
    return report;
  }

  /**
   * Removes this state dir's empty cgroups whose agent has ended (or never got a row). The
   * rows are read after the cgroups are listed: a deploy inserts its row before it makes the
   * cgroup, so a cgroup just made always finds its agent live.
   */
  private removeStaleCgroups(): string[] {
    if (this.cgroups === null) return [];
    return this.cgroups.removeStale(() => this.store.agents.liveIds());
  }

  /** An adopted contained agent is served again on a new socket in its relay dir. */
  private async relisten(id: AgentId): Promise<void> {
    const listening = await this.relays.listen(id);
    if (!listening.ok) this.logger.warn({ agent: id, err: listening.error.message }, "an adopted contained agent cannot reach its tools");
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
    this.adoptedFrom.delete(id);
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

  /**
   * Below diskReserveMb of free space, stops the agent (of those this process owns) whose log
   * grew most since the last check, so that agents' output cannot eat the space corral needs
   * to record their ends. Returns the agent it stopped, if any.
   */
  async checkDiskFloor(): Promise<AgentId | null> {
    if (this.closed || this.config.diskReserveMb === 0) return null;
    const stats = statfsSync(this.config.home);
    const free = stats.bavail * stats.bsize;
    const reserve = this.config.diskReserveMb * 1024 * 1024;
    // Well above the reserve nothing is measured: a check costs one statfs. Closer, each log's
    // growth is followed, so that it is known by the time the reserve is reached.
    if (free >= 2 * reserve) {
      this.logSizes.clear();
      return null;
    }
    const running = this.store.agents.liveOwnedBy(this.owner).filter((agent) => agent.status === "running");
    const logs = running.map((agent) => {
      const bytes = statOrNull(agent.logPath)?.size ?? 0;
      const grew = bytes - (this.logSizes.get(agent.id) ?? 0);
      this.logSizes.set(agent.id, bytes);
      return { id: agent.id, grew, bytes };
    });
    for (const id of this.logSizes.keys()) if (!logs.some((log) => log.id === id)) this.logSizes.delete(id);
    const top = planDiskFloor(logs, free, reserve);
    if (top === null) return null;
    const reason =
      `the disk under the state dir fell to ${(free / 1024 / 1024).toFixed(1)} MB free, below diskReserveMb=${this.config.diskReserveMb}, ` +
      `while its log grew fastest (${(top.grew / 1024 / 1024).toFixed(1)} MB in the last check, ${(top.bytes / 1024 / 1024).toFixed(1)} MB in all): stopped so that corral can still record`;
    this.logger.warn({ agent: top.id, free }, "disk reserve reached: stopping the fastest-growing log");
    await this.end(top.id, { status: "killed", reason, exit: null });
    return top.id;
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
      // The cgroup counts the CPU of processes that already exited too, and memory where metered.
      const metered = scope.cgroup === null ? null : cgroupUsage(scope.cgroup);
      const runner = this.runners.get(agent.runner) ?? null;
      const kept = runner === null ? [] : usageOf(runner.companions(scope.root));
      return [
        {
          agentId: agent.id,
          taskId: agent.taskId,
          processes: usage.length,
          residentMb: metered?.memoryMb ?? usage.reduce((sum, p) => sum + p.residentMb, 0),
          cpuSeconds: metered?.cpuSeconds ?? usage.reduce((sum, p) => sum + p.cpuSeconds, 0),
          cgroup: scope.cgroup,
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
    const cgroups = dryRun ? [] : this.removeStaleCgroups();
    if (cgroups.length > 0) this.logger.info({ cgroups }, "gc removed stale cgroups");
    if (!dryRun && (report.archivesDeleted.length > 0 || report.tempRemoved.length > 0 || report.transcriptsDeleted.length > 0)) {
      const counts = { archives: report.archivesDeleted.length, transcripts: report.transcriptsDeleted.length, temp: report.tempRemoved.length };
      this.logger.info({ ...counts, bytes: report.bytesFreed }, "gc");
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
   * Kills every live agent this process launched, in parallel, then closes; with
   * onShutdown=detach it leaves them running for the next coordinator to adopt. Agents it
   * adopted are never killed here: they are handed back for the next corral to adopt. The grace
   * period shrinks so that the whole shutdown fits in shutdownDeadlineMs: the SIGTERM phase
   * gets half of it, the rest is left for SIGKILL, verification and cleanup.
   */
  async shutdown(reason = "corral shut down"): Promise<void> {
    if (this.closed) return;
    // Adopted agents go back to the corral they came from, which is dead, so the next corral
    // adopts them again: a coordinator that lives a moment (a health check, a one-shot
    // client) must not turn its adoption into a kill nobody asked for.
    for (const [id, from] of this.adoptedFrom) {
      if (this.store.agents.adopt(id, this.owner, from)) this.logger.info({ agent: id }, "released an adopted agent for the next corral");
    }
    if (this.config.onShutdown === "terminate") {
      this.graceMs = Math.min(this.config.graceMs, Math.floor(this.config.shutdownDeadlineMs / 2));
      const [kept, killed] = partition(this.store.agents.liveOwnedBy(this.owner), (agent) => lifetimeOf(agent) !== null);
      for (const agent of kept) this.logger.info({ agent: agent.id, maxRuntimeMs: lifetimeOf(agent) }, "left running: it has a lifetime of its own");
      await Promise.all(killed.map((agent) => this.kill(agent.id, reason)));
    }
    await this.close();
  }

  /** Waits for cleanups under way and closes the store. Agents still running keep running. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retryTimer);
    clearInterval(this.storeTimer);
    if (this.diskTimer !== null) clearInterval(this.diskTimer);
    this.relays.closeAll();
    if (this.reconcileTimer !== null) clearInterval(this.reconcileTimer);
    if (this.reapTimer !== null) clearInterval(this.reapTimer);
    if (this.gcTimer !== null) clearInterval(this.gcTimer);
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    if (this.pendingTimer !== null) clearInterval(this.pendingTimer);
    this.streams.stop();
    await this.reconciling;
    await Promise.all(this.inFlight.values());
    // An agent stopped just now may have exited without its exit being handled yet: an exit the
    // database refused goes to the journal, and must be there before this process goes.
    const dying = [...this.exitsHandled.values()].filter((exit) => !isAlive(exit.root)).map((exit) => exit.handled);
    await Promise.race([Promise.all(dying), sleep(EXIT_HANDLED_WAIT_MS)]);
    // What this process recorded since the file went: into the rescued copy, for a person to put back.
    if (this.lostStore?.rescue != null) this.rescueStore(this.lostStore.rescue);
    // The state dir's cgroup parent goes with the last agent; agents still running keep theirs.
    this.cgroups?.removeParentIfEmpty();
    this.store.close();
  }
}

function capsOf(config: Config): CgroupCaps {
  return { memoryMb: config.agentMemoryMb, pids: config.agentPids };
}

/**
 * Each agent's own cgroup, per the `cgroups` setting: `auto` uses one where the v2 hierarchy
 * is writable and otherwise falls back to tini and the sweep; `on` refuses to start without
 * one. A cap (agentMemoryMb, agentPids) needs a cgroup with its controller: a cap that would
 * silently not hold is refused.
 */
function openCgroups(config: Config): Result<Cgroups | null> {
  const caps = capsOf(config);
  const capped = caps.memoryMb > 0 || caps.pids > 0;
  if (config.cgroups === "off") {
    if (capped) return fail("CONFIG_INVALID", "agentMemoryMb and agentPids need cgroups, but cgroups is off; set CORRAL_CGROUPS=auto or unset the caps");
    return ok(null);
  }
  const opened = Cgroups.open(config.home);
  if (!opened.ok) {
    if (config.cgroups === "on") return fail("CGROUPS_UNAVAILABLE", `cgroups is on, but ${opened.error.message}; or set CORRAL_CGROUPS=auto`);
    if (capped) return fail("CGROUPS_UNAVAILABLE", `agentMemoryMb and agentPids need a cgroup per agent, but ${opened.error.message}`);
    return ok(null);
  }
  const missing = opened.value.missingFor(caps);
  if (missing !== null) {
    opened.value.removeParentIfEmpty();
    return fail("CGROUPS_UNAVAILABLE", `a cap is set that needs the ${missing} controller, which the cgroup hierarchy does not delegate here (${opened.value.parent} has: ${opened.value.controllers.join(" ") || "none"})`);
  }
  return ok(opened.value);
}

/** The process that made a cleanup claim (`pid:starttime:nonce`), or null for no claim. */
function claimerOf(claim: string | null): ProcessIdentity | null {
  const [pid, startTime] = claim?.split(":") ?? [];
  if (pid === undefined || startTime === undefined) return null;
  return { pid: Number(pid), startTime };
}

/** How many task workspaces a state dir holds when it has no database; 0 when it has one. */
function workspacesWithoutStore(home: string, dbPath: string): number {
  if (existsSync(dbPath)) return 0;
  try {
    return readdirSync(join(home, "workspaces")).length;
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return 0;
    throw cause;
  }
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}

