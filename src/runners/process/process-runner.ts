import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import * as z from "zod";
import type { ExitStatus } from "../../domain/agent-state.js";
import { describeUnknown, fail, ok, type Result } from "../../domain/errors.js";
import { readStat } from "../../supervisor/procfs.js";
import { commandLine, enterCgroup } from "../local/command-line.js";
import { localHandleFields, type LocalRoot } from "../local/handle.js";
import { LocalRunner } from "../local/local-runner.js";
import { statusFromCode } from "../local/signals.js";
import type { AgentHandle, Placement, ReleaseReport, RunnerLaunch } from "../runner.js";

const ProcessHandleSchema = z.object({
  runner: z.literal("process"),
  /** The agent's id, for messages. */
  name: z.string().min(1),
  ...localHandleFields,
});
type ProcessHandle = z.infer<typeof ProcessHandleSchema>;

/**
 * Runs an agent as a plain child in a session and process group of its own, optionally under
 * `tini -s -g` so that tini, a child subreaper, keeps every descendant in its tree.
 */
export class ProcessRunner extends LocalRunner<ProcessHandle> {
  readonly kind = "process";
  readonly unavailable = null;
  protected readonly schema = ProcessHandleSchema;

  protected placed(placement: Placement, cgroup: string | null): ProcessHandle {
    return { runner: "process", name: placement.name, mark: `${placement.mark.name}=${placement.mark.value}`, cgroup, root: null };
  }

  protected launch(handle: ProcessHandle, launch: RunnerLaunch): Promise<Result<{ root: LocalRoot; exited: Promise<ExitStatus> }>> {
    return Promise.resolve(this.spawn(handle, launch));
  }

  private spawn(handle: ProcessHandle, launch: RunnerLaunch): Result<{ root: LocalRoot; exited: Promise<ExitStatus> }> {
    const { plan } = launch;
    const command = commandLine(handle.mark, plan, this.setup.wrapping);
    if (!command.ok) return command;
    const { program, env } = command.value;
    const argv = handle.cgroup === null ? command.value.argv : enterCgroup(handle.cgroup, command.value.argv);

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
      const subreaper = this.setup.wrapping.tiniPath !== null;
      const exited = new Promise<ExitStatus>((resolve) => {
        child.once("exit", (code, signal) =>
          // tini reports its child's death by signal N as exit code 128+N.
          resolve(signal !== null ? { kind: "signalled", signal } : statusFromCode(code ?? 0, subreaper)),
        );
        void spawnError.then(() => resolve({ kind: "exited", code: 127 }));
      });
      return ok({ root: { pid, startTime: stat.startTime, sid: stat.session, subreaper }, exited });
    } catch (cause) {
      return fail("LAUNCH_FAILED", `cannot start ${program}: ${describeUnknown(cause)}`);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** A plain process leaves nothing behind but its processes, which stop has taken. */
  release(): Promise<ReleaseReport> {
    return Promise.resolve({ outcome: "none" });
  }

  /** Only a parent can read a process's status: once the launcher is gone, so is the status. */
  wait(): Promise<null> {
    return Promise.resolve(null);
  }

  protected companions(): [] {
    return [];
  }

  attach(handle: AgentHandle): Result<readonly string[]> {
    const { name } = this.local(handle);
    return fail("NOT_ATTACHABLE", `${name} runs as a plain process, not in tmux: follow it with corral logs -f ${name}, or deploy with runner tmux`);
  }
}

function track(fds: number[], fd: number): number {
  fds.push(fd);
  return fd;
}
