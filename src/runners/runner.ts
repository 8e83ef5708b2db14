import type { ExitStatus } from "../domain/agent-state.js";
import type { RunnerKind } from "../domain/config.js";
import type { Result } from "../domain/errors.js";
import type { ProcessUsage } from "../domain/resource-limits.js";
import type { DiscoveryMethod } from "../supervisor/discover.js";
import type { ProcessIdentity } from "../supervisor/identity.js";
import type { TerminationReport } from "../supervisor/terminate.js";

export { DISCOVERY_METHODS, type DiscoveryMethod } from "../supervisor/discover.js";
export type { SignalledProcess, TerminationReport } from "../supervisor/terminate.js";

/**
 * What a runner keeps to find an agent again, from its placement on: a JSON value whose shape
 * is the runner's alone, which the store keeps on the agent row and hands back after any
 * restart. Above runners/ it is only stored, read back through `Runner.readHandle` (which
 * validates it) and passed in again; nothing there looks inside.
 */
export type AgentHandle = { readonly [handleBrand]: true };
declare const handleBrand: unique symbol;

/** What a backend asks to be run: argv, extra environment, and where stdin comes from. */
export interface LaunchPlan {
  readonly argv: readonly string[];
  /** Added to corral's own environment; null removes an inherited variable. */
  readonly env: Readonly<Record<string, string | null>>;
  readonly cwd: string;
  /** A file fed to the agent's stdin, or null for no input. */
  readonly stdinPath: string | null;
}

/** What names an agent before anything of it runs. */
export interface Placement {
  /** The agent's id: names what a runner makes for the agent (a cgroup, a tmux session). */
  readonly name: string;
  /** The agent's private dir, for a runner's own files. */
  readonly agentDir: string;
  /** `NAME=value` placed first in the agent's environment so every descendant inherits it. */
  readonly mark: { readonly name: string; readonly value: string };
}

export interface RunnerLaunch {
  readonly plan: LaunchPlan;
  /** Where the agent's stdout and stderr go: the lifecycle's file, opened by the runner. */
  readonly logPath: string;
}

export interface StartedAgent {
  /** The placed handle, now naming the agent's running process too. */
  readonly handle: AgentHandle;
  /**
   * The process the agent's identity and ownership rest on (the root of its tree), kept in the
   * store's own columns: an agent server proves it runs inside this agent by finding it among
   * its ancestors.
   */
  readonly root: ProcessIdentity;
  /**
   * Settles when the agent exits; only the launching corral process can see it. null when the
   * status is lost (the runner's own record of it went away).
   */
  readonly exited: Promise<ExitStatus | null>;
}

/** What closing a runner's own resources (a tmux session) did. */
export type ReleaseReport =
  | { readonly outcome: "none" }
  | { readonly outcome: "closed"; readonly detail: Record<string, unknown> }
  | { readonly outcome: "failed"; readonly detail: Record<string, unknown>; readonly message: string };

/** Whether an agent's processes are all gone, and what the look could not see. */
export interface GoneReport {
  readonly method: DiscoveryMethod;
  readonly survivors: ProcessIdentity[];
  readonly blindSpots: string[];
  /** What the runner removed once the agent was proved gone (its empty cgroup), or null. */
  readonly removed: { readonly path: string; readonly removed: boolean; readonly error: string | null } | null;
}

/** An agent found again after a restart. */
export type Recovery =
  | { readonly running: false }
  | {
      readonly running: true;
      /** Settles once the agent is gone; never, when the signal aborts first. */
      readonly ended: Promise<void>;
    };

/** What an agent and the runner's processes for it use right now. */
export interface AgentUsage {
  /** Each live process of the agent. */
  readonly processes: ProcessUsage[];
  /** The agent's own meter (its cgroup), which counts exited processes too; null without one. */
  readonly metered: { readonly path: string; readonly cpuSeconds: number; readonly memoryMb: number | null } | null;
  /** The processes the runner keeps for the agent besides the agent's own (tmux: server, keeper, log pipe). */
  readonly companions: ProcessUsage[];
}

/** What a runner can do, declared, instead of methods that answer nothing. */
export interface RunnerCapabilities {
  /** A person can attach a terminal to a running agent (`attach`). */
  readonly attach: boolean;
  /** `wait` can tell an adopted agent's exit status: the runner keeps it besides its parent. */
  readonly exitStatusAfterAdoption: boolean;
  /** Each agent has a cgroup of its own: exact membership, cgroup.kill, metering and caps. */
  readonly cgroups: boolean;
  /** Agents run under a child subreaper (tini) that keeps every descendant in its tree. */
  readonly subreaper: boolean;
}

export interface StopOptions {
  readonly graceMs: number;
}

/**
 * Where an agent runs. Everything above runners/ goes through this interface with a handle,
 * so it never assumes the agent is a local child: a runner on another machine is one more
 * implementation.
 */
export interface Runner {
  readonly kind: RunnerKind;
  readonly capabilities: RunnerCapabilities;
  /** Why this runner cannot start agents in this process (a tool is missing), or null when it can. */
  readonly unavailable: string | null;
  /** A stored handle, validated; a failure says why it is not this runner's. */
  readHandle(stored: unknown): Result<AgentHandle>;
  /**
   * Makes what must exist, and be on record, before the agent starts (its cgroup), and the
   * handle that finds whatever of the agent may start from here on.
   */
  place(placement: Placement): Result<AgentHandle>;
  /**
   * The handle of an agent whose placement was never recorded (its corral died first): it
   * names the agent by its mark alone.
   */
  unplaced(placement: Placement): AgentHandle;
  start(handle: AgentHandle, launch: RunnerLaunch): Promise<Result<StartedAgent>>;
  /**
   * Terminates everything of the agent, with escalation, and returns the receipt: how its
   * processes were found, what that way cannot see, who was signalled and who survived.
   */
  stop(handle: AgentHandle, options: StopOptions): Promise<TerminationReport>;
  /** Looks again for the agent's processes and, once none is left, removes what held them. */
  verifyGone(handle: AgentHandle, stopped: TerminationReport | null): GoneReport;
  /** Whether the agent's root process still runs: a cheap look. */
  running(handle: AgentHandle): boolean;
  /** After a restart: whether the agent is still there, and how to see it end. */
  recover(handle: AgentHandle, signal: AbortSignal): Recovery;
  /**
   * The exit status the runner kept for an agent this corral process did not launch (its
   * launcher died); null when only the launcher could have seen it (see exitStatusAfterAdoption).
   */
  wait(handle: AgentHandle): Promise<ExitStatus | null>;
  stats(handle: AgentHandle): AgentUsage;
  /** Closes what the runner made for the agent besides its processes, and verifies it gone. */
  release(handle: AgentHandle): Promise<ReleaseReport>;
  /** The argv a person runs to watch the agent live: only when capabilities.attach. */
  attach(handle: AgentHandle): Result<readonly string[]>;
}
