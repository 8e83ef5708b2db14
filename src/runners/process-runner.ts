import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import type { ExitStatus } from "../domain/agent-state.js";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import type { AgentScope } from "../supervisor/discover.js";
import { readStat } from "../supervisor/procfs.js";
import { terminate, type TerminateOptions, type TerminationReport } from "../supervisor/terminate.js";
import { commandLine, enterCgroup, type Wrapping } from "./command-line.js";
import type { ReleaseReport, Runner, RunnerLaunch, StartedAgent } from "./runner.js";
import { statusFromCode } from "./signals.js";

/**
 * Runs an agent as a plain child in a session and process group of its own, optionally under
 * `tini -s -g` so that tini, a child subreaper, keeps every descendant in its tree.
 */
export class ProcessRunner implements Runner {
  readonly kind = "process";

  constructor(private readonly wrapping: Wrapping) {}

  start(launch: RunnerLaunch): Result<StartedAgent> {
    const { plan } = launch;
    const command = commandLine(launch, this.wrapping);
    if (!command.ok) return command;
    const { program, env } = command.value;
    const argv = launch.cgroup === null ? command.value.argv : enterCgroup(launch.cgroup, command.value.argv);

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
      const subreaper = this.wrapping.tiniPath !== null;
      const exited = new Promise<ExitStatus>((resolve) => {
        child.once("exit", (code, signal) =>
          // tini reports its child's death by signal N as exit code 128+N.
          resolve(signal !== null ? { kind: "signalled", signal } : statusFromCode(code ?? 0, subreaper)),
        );
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

  /** A plain process leaves nothing behind but its processes, which terminate has taken. */
  release(): Promise<ReleaseReport> {
    return Promise.resolve({ outcome: "none" });
  }

  /** Only a parent can read a process's status: once the launcher is gone, so is the status. */
  recordedExit(): Promise<null> {
    return Promise.resolve(null);
  }

  companions(): [] {
    return [];
  }

  attachCommand(): null {
    return null;
  }
}

function track(fds: number[], fd: number): number {
  fds.push(fd);
  return fd;
}
