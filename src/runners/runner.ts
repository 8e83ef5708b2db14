import type { ExitStatus } from "../domain/agent-state.js";
import type { RunnerKind } from "../domain/config.js";
import type { Result } from "../domain/errors.js";
import type { AgentScope } from "../supervisor/discover.js";
import type { ProcessIdentity } from "../supervisor/identity.js";
import type { TerminateOptions, TerminationReport } from "../supervisor/terminate.js";

/** What a backend asks to be run: argv, extra environment, and where stdin comes from. */
export interface LaunchPlan {
  readonly argv: readonly string[];
  /** Added to corral's own environment; null removes an inherited variable. */
  readonly env: Readonly<Record<string, string | null>>;
  readonly cwd: string;
  /** A file fed to the agent's stdin, or null for no input. */
  readonly stdinPath: string | null;
}

export interface RunnerLaunch {
  /** The agent's id: names what a runner makes for the agent (a tmux session). */
  readonly name: string;
  /** The agent's private dir, for a runner's own files. */
  readonly agentDir: string;
  readonly plan: LaunchPlan;
  readonly logPath: string;
  /** `NAME=value` placed first in the agent's environment so every descendant inherits it. */
  readonly mark: { readonly name: string; readonly value: string };
  /**
   * The agent's own cgroup dir, or null. The agent's first process must move itself into it
   * before it execs the agent, so that nothing the agent starts is ever outside it.
   */
  readonly cgroup: string | null;
}

export interface StartedAgent {
  readonly pid: number;
  readonly startTime: string;
  readonly pgid: number;
  readonly sid: number;
  readonly subreaper: boolean;
  /**
   * Settles when the launched process exits; only the launching corral process can see it.
   * null when the status is lost (the runner's own record of it went away).
   */
  readonly exited: Promise<ExitStatus | null>;
}

/** What closing a runner's own resources (a tmux session) did. */
export type ReleaseReport =
  | { readonly outcome: "none" }
  | { readonly outcome: "closed"; readonly detail: Record<string, unknown> }
  | { readonly outcome: "failed"; readonly detail: Record<string, unknown>; readonly message: string };

/** Where an agent runs. Nothing above runners/ may assume the agent is a local child. */
export interface Runner {
  readonly kind: RunnerKind;
  start(launch: RunnerLaunch): Result<StartedAgent>;
  terminate(scope: AgentScope, options: TerminateOptions): Promise<TerminationReport>;
  /** Closes what the runner made for the agent besides its processes, and verifies it gone. */
  release(name: string): Promise<ReleaseReport>;
  /**
   * The exit status the runner kept for an agent this corral process did not launch (its
   * launcher died), or null when only the launching process could have seen it.
   */
  recordedExit(agentDir: string): Promise<ExitStatus | null>;
  /**
   * The processes the runner keeps for a running agent besides the agent's own tree (tmux:
   * the server, the pane's first process, the log pipe), found from the agent's root.
   */
  companions(root: ProcessIdentity): ProcessIdentity[];
  /** The argv a person runs to watch the agent live, or null when the runner has none. */
  attachCommand(name: string): string[] | null;
}
