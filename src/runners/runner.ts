import type { ExitStatus } from "../domain/agent-state.js";
import type { Result } from "../domain/errors.js";
import type { AgentScope } from "../supervisor/discover.js";
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
  readonly plan: LaunchPlan;
  readonly logPath: string;
  /** `NAME=value` placed first in the agent's environment so every descendant inherits it. */
  readonly mark: { readonly name: string; readonly value: string };
}

export interface StartedAgent {
  readonly pid: number;
  readonly startTime: string;
  readonly pgid: number;
  readonly sid: number;
  readonly subreaper: boolean;
  /** Settles when the launched process exits; only the launching corral process can see it. */
  readonly exited: Promise<ExitStatus>;
}

/** Where an agent runs. Nothing above runners/ may assume the agent is a local child. */
export interface Runner {
  readonly kind: string;
  start(launch: RunnerLaunch): Result<StartedAgent>;
  terminate(scope: AgentScope, options: TerminateOptions): Promise<TerminationReport>;
}
