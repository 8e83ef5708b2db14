import { fail, ok, type Result } from "../../domain/errors.js";
import { findExecutable } from "../executables.js";
import type { LaunchPlan } from "../runner.js";

/** What every local runner puts around the agent's own argv. */
export interface Wrapping {
  /** tini, run as `tini -s -g --`: a child subreaper that keeps every descendant in its tree. */
  readonly tiniPath: string | null;
  /** `prlimit <options> --`, which sets the agent's rlimits and then runs it in place. */
  readonly limiter: readonly string[];
}

export interface CommandLine {
  /** The program as the plan named it, for messages. */
  readonly program: string;
  /** limiter, tini, then the resolved program and its arguments. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The mark's variable, first in `env`. */
  readonly markName: string;
}

/**
 * The full argv and environment an agent runs with, whichever local runner starts it; `mark`
 * is `NAME=value`.
 */
export function commandLine(mark: string, plan: LaunchPlan, wrapping: Wrapping): Result<CommandLine> {
  const [program, ...args] = plan.argv;
  if (program === undefined) return fail("LAUNCH_FAILED", "the command is empty");
  const split = mark.indexOf("=");
  const [markName, markValue] = [mark.slice(0, split), mark.slice(split + 1)];
  // The mark goes first, so it sits at the start of /proc/<pid>/environ where a sweep reads
  // it, and is set last, so nothing inherited or planned can replace it.
  const env: Record<string, string> = { [markName]: markValue };
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  for (const [name, value] of Object.entries(plan.env)) {
    if (value === null) delete env[name];
    else env[name] = value;
  }
  env[markName] = markValue;
  const resolved = findExecutable(program, env.PATH, plan.cwd);
  if (resolved === null) return fail("LAUNCH_FAILED", `cannot run ${program}: not found or not executable on PATH`);
  const tini = wrapping.tiniPath === null ? [] : [wrapping.tiniPath, "-s", "-g", "--"];
  return ok({ program, argv: [...wrapping.limiter, ...tini, resolved, ...args], env, markName });
}

/**
 * A shell that moves itself into the cgroup and then execs the argv in place (same pid): the
 * agent's first instruction already runs inside it. A failure to enter is the launch's, in the log.
 */
export function enterCgroup(cgroup: string, argv: readonly string[]): string[] {
  const script = 'echo $$ >"$0/cgroup.procs" || { echo "corral: cannot enter the cgroup $0" >&2; exit 126; }; exec "$@"';
  return ["/bin/sh", "-c", script, cgroup, ...argv];
}
