import type * as z from "zod";
import type { ExitStatus } from "../../domain/agent-state.js";
import type { RunnerKind } from "../../domain/config.js";
import { fail, ok, type Result } from "../../domain/errors.js";
import { cgroupUsage, removeCgroup, type CgroupCaps, type Cgroups } from "../../supervisor/cgroup.js";
import { blindSpots, discover } from "../../supervisor/discover.js";
import { isAlive, pidTaken, type ProcessIdentity } from "../../supervisor/identity.js";
import { terminate, type TerminationReport } from "../../supervisor/terminate.js";
import { usageOf } from "../../supervisor/usage.js";
import type {
  AgentHandle,
  AgentUsage,
  GoneReport,
  Placement,
  Recovery,
  ReleaseReport,
  Runner,
  RunnerCapabilities,
  RunnerLaunch,
  StartedAgent,
  StopOptions,
} from "../runner.js";
import type { Wrapping } from "./command-line.js";
import { scopeOf, type LocalHandle, type LocalRoot } from "./handle.js";

/** What every local runner of one corral process shares: how agents are wrapped, and their cgroups. */
export interface LocalSetup {
  readonly wrapping: Wrapping;
  /** The parent of this state dir's agents' cgroups, or null when agents run without one. */
  readonly cgroups: Cgroups | null;
  readonly caps: CgroupCaps;
}

/**
 * How often a recovered agent's root is looked for: it is not our child, so the kernel is all
 * there is. A look is one kill(pid, 0); every RECOVERED_CONFIRM_EVERY looks, /proc confirms
 * that the pid still names the root (its zombie, or a reused pid, answers kill too).
 */
const RECOVERED_POLL_MS = 250;
const RECOVERED_CONFIRM_EVERY = 4;

/**
 * What the local runners share: an agent is a tree of processes on this machine, found by its
 * cgroup, its subreaper's tree or a sweep for its session and mark (supervisor/discover.ts),
 * and terminated with escalation (supervisor/terminate.ts). Each runner adds how it starts an
 * agent, what it keeps besides the agent's processes, and what it can tell after adoption.
 */
export abstract class LocalRunner<H extends LocalHandle> implements Runner {
  abstract readonly kind: RunnerKind;
  abstract readonly unavailable: string | null;
  protected abstract readonly schema: z.ZodType<H>;

  /** Recovered agents' roots, each with what settles its end: one timer looks at them all. */
  private readonly watched = new Map<LocalRoot, () => void>();
  private watchTimer: NodeJS.Timeout | null = null;

  constructor(protected readonly setup: LocalSetup) {}

  get capabilities(): RunnerCapabilities {
    return {
      attach: false,
      exitStatusAfterAdoption: false,
      cgroups: this.setup.cgroups !== null,
      subreaper: this.setup.wrapping.tiniPath !== null,
    };
  }

  /** The handle of a placed agent, with whatever this runner adds. */
  protected abstract placed(placement: Placement, cgroup: string | null): H;
  protected abstract launch(handle: H, launch: RunnerLaunch): Promise<Result<{ root: LocalRoot; exited: Promise<ExitStatus | null> }>>;
  abstract wait(handle: AgentHandle): Promise<ExitStatus | null>;
  abstract release(handle: AgentHandle): Promise<ReleaseReport>;
  abstract attach(handle: AgentHandle): Result<readonly string[]>;
  /** The processes the runner keeps for a running agent besides the agent's own tree. */
  protected abstract companions(handle: H): ProcessIdentity[];

  readHandle(stored: unknown): Result<AgentHandle> {
    const parsed = this.schema.safeParse(stored);
    if (parsed.success) return ok(opaque(parsed.data));
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "handle"}: ${issue.message}`);
    return fail("DB_CORRUPT", `the stored handle is not a ${this.kind} runner's: ${problems.join("; ")}`);
  }

  /**
   * The handle as this runner's own shape. A handle reaches a runner only from its readHandle
   * (which checked it), place or start (which made it), so it is not checked again on every
   * stop, look and reap.
   */
  protected local(handle: AgentHandle): H {
    return handle as unknown as H;
  }

  place(placement: Placement): Result<AgentHandle> {
    let cgroup: string | null = null;
    if (this.setup.cgroups !== null) {
      const made = this.setup.cgroups.create(placement.name, this.setup.caps);
      if (!made.ok) return made;
      cgroup = made.value;
    }
    return ok(opaque(this.placed(placement, cgroup)));
  }

  unplaced(placement: Placement): AgentHandle {
    return opaque(this.placed(placement, null));
  }

  async start(handle: AgentHandle, launch: RunnerLaunch): Promise<Result<StartedAgent>> {
    const placed = this.local(handle);
    const started = await this.launch(placed, launch);
    if (!started.ok) return started;
    const { root, exited } = started.value;
    return ok({ handle: opaque({ ...placed, root }), root: { pid: root.pid, startTime: root.startTime }, exited });
  }

  stop(handle: AgentHandle, options: StopOptions): Promise<TerminationReport> {
    return terminate(scopeOf(this.local(handle)), options);
  }

  verifyGone(handle: AgentHandle, stopped: TerminationReport | null): GoneReport {
    const scope = scopeOf(this.local(handle));
    // A tree walk under a held subreaper already proved the tree empty; otherwise look again.
    const looked =
      stopped !== null && stopped.method === "tree" && stopped.survivors.length === 0
        ? { method: stopped.method, processes: stopped.signalled.filter(isAlive) }
        : discover(scope);
    const base = { method: looked.method, survivors: looked.processes, blindSpots: blindSpots(looked.method) };
    if (looked.processes.length > 0 || scope.cgroup === null) return { ...base, removed: null };
    // The empty cgroup goes too; the proof that it was empty is that the kernel let it go.
    return { ...base, removed: { path: scope.cgroup, ...removeCgroup(scope.cgroup) } };
  }

  running(handle: AgentHandle): boolean {
    const { root } = this.local(handle);
    return root !== null && isAlive(root);
  }

  recover(handle: AgentHandle, signal: AbortSignal): Recovery {
    const { root } = this.local(handle);
    if (root === null || !isAlive(root)) return { running: false };
    return { running: true, ended: this.watch(root, signal) };
  }

  /**
   * Settles when `root` is gone. One timer polls every recovered root of this runner, and stops
   * (with its one abort listener) when none is left or the signal aborts: a runner belongs to
   * one corral process, whose signal is the same for every agent it recovers.
   */
  private watch(root: LocalRoot, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return;
      this.watched.set(root, resolve);
      if (this.watchTimer !== null) return;
      const stop = (): void => {
        clearInterval(timer);
        this.watchTimer = null;
        this.watched.clear();
        signal.removeEventListener("abort", stop);
      };
      let looks = 0;
      const timer = setInterval(() => {
        looks += 1;
        const confirm = looks % RECOVERED_CONFIRM_EVERY === 0;
        for (const [watchedRoot, ended] of this.watched) {
          if (pidTaken(watchedRoot.pid) && (!confirm || isAlive(watchedRoot))) continue;
          this.watched.delete(watchedRoot);
          ended();
        }
        if (this.watched.size === 0) stop();
      }, RECOVERED_POLL_MS);
      timer.unref();
      this.watchTimer = timer;
      signal.addEventListener("abort", stop, { once: true });
    });
  }

  stats(handle: AgentHandle): AgentUsage {
    const local = this.local(handle);
    const scope = scopeOf(local);
    const processes = usageOf(discover(scope).processes);
    // The cgroup counts the CPU of processes that already exited too, and memory where metered.
    const metered = scope.cgroup === null ? null : cgroupUsage(scope.cgroup);
    return {
      processes,
      metered: metered === null || scope.cgroup === null ? null : { path: scope.cgroup, ...metered },
      companions: local.root === null ? [] : usageOf(this.companions(local)),
    };
  }
}

/** A runner's own value, handed out as an opaque handle; it comes back through local(). */
function opaque(handle: LocalHandle): AgentHandle {
  return handle as unknown as AgentHandle;
}
