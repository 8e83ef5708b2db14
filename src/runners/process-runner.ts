import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { constants } from "node:os";
import type { ExitStatus } from "../domain/agent-state.js";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import type { AgentScope } from "../supervisor/discover.js";
import { readStat } from "../supervisor/procfs.js";
import { terminate, type TerminateOptions, type TerminationReport } from "../supervisor/terminate.js";
import { findExecutable } from "./executables.js";
import type { Runner, RunnerLaunch, StartedAgent } from "./runner.js";

const signalNames = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/**
 * Runs an agent as a plain child in a session and process group of its own, optionally under
 * `tini -s -g` so that tini, a child subreaper, keeps every descendant in its tree.
 */
export class ProcessRunner implements Runner {
  readonly kind = "process";
  private readonly tiniPath: string | null;
  /** `prlimit <options> --`, which sets the agent's rlimits and then runs it in place. */
  private readonly limiter: readonly string[];

  constructor(tiniPath: string | null, limiter: readonly string[] = []) {
    this.tiniPath = tiniPath;
    this.limiter = limiter;
  }

  start(launch: RunnerLaunch): Result<StartedAgent> {
    const { plan } = launch;
    const [program, ...args] = plan.argv;
    if (program === undefined) return fail("LAUNCH_FAILED", "the command is empty");
    // The mark goes first, so it sits at the start of /proc/<pid>/environ where a sweep reads
    // it, and is set last, so nothing inherited or planned can replace it.
    const env: Record<string, string | undefined> = { [launch.mark.name]: launch.mark.value, ...process.env };
    for (const [name, value] of Object.entries(plan.env)) {
      if (value === null) delete env[name];
      else env[name] = value;
    }
    env[launch.mark.name] = launch.mark.value;
    const resolved = findExecutable(program, env.PATH, plan.cwd);
    if (resolved === null) return fail("LAUNCH_FAILED", `cannot run ${program}: not found or not executable on PATH`);
    const argv = [...this.limiter, ...(this.tiniPath === null ? [] : [this.tiniPath, "-s", "-g", "--"]), resolved, ...args];

    // corral's copies of the descriptors close right after the spawn: the child holds the only
    // writer of its log, so nothing is left for corral to flush or leak.
    const fds: number[] = [];
    try {
      const stdin = plan.stdinPath === null ? "ignore" : track(fds, openSync(plan.stdinPath, "r"));
      const log = track(fds, openSync(launch.logPath, "a", 0o600));
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: plan.cwd,
        env,
        detached: true,
        stdio: [stdin, log, log],
      });
      const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
      const pid = child.pid;
      if (pid === undefined) {
        return fail("LAUNCH_FAILED", `cannot start ${program}: the system refused to create the process`);
      }
      // The child cannot be reaped before this tick ends, so its stat is there even if it
      // already exited.
      const stat = readStat(pid);
      if (stat === null) {
        child.kill("SIGKILL");
        return fail("LAUNCH_FAILED", `cannot read /proc/${pid}/stat of the new agent process; it was killed`);
      }
      const subreaper = this.tiniPath !== null;
      const exited = new Promise<ExitStatus>((resolve) => {
        child.once("exit", (code, signal) => resolve(exitStatus(code, signal, subreaper)));
        void spawnError.then(() => resolve({ kind: "exited", code: 127 }));
      });
      return ok({ pid, startTime: stat.startTime, pgid: stat.pgrp, sid: stat.session, subreaper, exited });
    } catch (cause) {
      return fail("LAUNCH_FAILED", `cannot start ${program}: ${describeUnknown(cause)}`);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  terminate(scope: AgentScope, options: TerminateOptions): Promise<TerminationReport> {
    return terminate(scope, options);
  }
}

function track(fds: number[], fd: number): number {
  fds.push(fd);
  return fd;
}

/** tini exits with 128+N when its child dies of signal N, as a shell reports it. */
function exitStatus(code: number | null, signal: NodeJS.Signals | null, viaTini: boolean): ExitStatus {
  if (signal !== null) return { kind: "signalled", signal };
  const value = code ?? 0;
  if (viaTini && value > 128) {
    const name = signalNames.get(value - 128);
    if (name !== undefined) return { kind: "signalled", signal: name };
  }
  return { kind: "exited", code: value };
}
