import { execFile, execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { ExitStatus } from "../domain/agent-state.js";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import type { AgentScope } from "../supervisor/discover.js";
import { identify, isAlive, signalProcess, statOf, type ProcessIdentity } from "../supervisor/identity.js";
import { childPids, readStat } from "../supervisor/procfs.js";
import { terminate, type TerminateOptions, type TerminationReport } from "../supervisor/terminate.js";
import { commandLine, type Wrapping } from "./command-line.js";
import { findExecutable } from "./executables.js";
import type { ReleaseReport, Runner, RunnerLaunch, StartedAgent } from "./runner.js";
import { statusFromCode } from "./signals.js";

const execFileAsync = promisify(execFile);
/** A tmux client that does not answer within this is given up on, never waited for forever. */
const CLIENT_TIMEOUT_MS = 5000;
/** How long a new pane may take to show its agent process, stopped and ready to go. */
const START_WAIT_MS = 5000;
const CLOSE_WAIT_MS = 2000;
const RECORD_WAIT_MS = 1000;
const EXIT_POLL_MAX_MS = 50;
/** sun_path holds 108 bytes with the closing NUL. */
const MAX_SOCKET_PATH = 107;
const EXIT_STATUS_FILE = "tmux-exit-status";
/** Names tmux gives a pane of its own, and that an agent must not take from the launching shell. */
const TMUX_VARIABLES = ["TMUX", "TMUX_PANE"];

/**
 * The pane's first process, the keeper, runs the agent as its child and writes its exit status
 * to a file. The agent's process starts with the mark in its environment (exported by the
 * keeper, whose own environment in /proc stays unmarked), moves to a session of its own, as
 * under the process runner, and stops itself, so that corral can take its identity before anything runs
 * (an agent that ends at once would leave no /proc entry to read); corral then continues it
 * and it execs the agent: same pid, same start time. Its output goes to the pane's terminal.
 *
 * The agent is the keeper's child, not tmux's, for two reasons: tmux continues any child of
 * its own that stops, which would undo the SIGSTOP that holds a tini root during termination;
 * and tmux records a pane's status only when it gets round to reaping it, which for a fast
 * agent can come long after the pane reads as dead. A shell without job control waits through
 * a child's stops and reports its end at once. The keeper carries no mark and stays out of
 * the agent's session, so no sweep takes it for one of the agent's processes; it outlives
 * a hangup or a Ctrl-C in the pane to record the status; and its own words ("Killed") go to
 * /dev/null, not into the agent's log.
 *
 * The agent's argv arrives in the environment (ARG_PREFIX0, 1, …; ARG_COUNT), which the
 * keeper turns back into its arguments and removes: a tmux command is limited to about 16 KB,
 * an argv is not.
 */
const ARG_PREFIX = "CORRAL_PANE_ARG_";
/** What the keeper prints before the agent's exit code when it cannot write the status file. */
const PANE_STATUS_MARK = "corral-exit-status: ";
const ARG_COUNT = "CORRAL_PANE_ARGC";
const KEEPER = [
  "trap : INT QUIT HUP",
  "status=$1 input=$2 setsid=$3 mark=$4 cgroup=$5",
  "set --",
  "i=0",
  String.raw`while [ "$i" -lt "$${ARG_COUNT}" ]; do eval "set -- \"\$@\" \"\$${ARG_PREFIX}$i\""; unset "${ARG_PREFIX}$i"; i=$((i + 1)); done`,
  `unset ${ARG_COUNT}`,
  "exec 3>&2 2>/dev/null",
  'export "$mark"',
  // The terminal's stderr is handed back inside the agent's shell: a redirection on this line
  // would be where the keeper writes "Killed" too. The agent's shell enters its cgroup (when
  // it has one) first of all, so that whatever it becomes is inside it.
  `"$setsid" /bin/sh -c 'exec 2>&3 3>&-; [ -z "$1" ] || echo $$ >"$1/cgroup.procs" || exit 126; shift; kill -STOP $$ && exec "$@"' agent "$cgroup" "$@" <"$input"`,
  // The status file is corral's, private like every file in the state dir; the agent above
  // ran with the umask it inherited.
  // When the file cannot be written (a full disk), the code goes where tmux keeps it in
  // memory: printed in the pane, after everything the agent wrote, and as the keeper's own
  // exit status, which tmux records for the dead pane once it has reaped the keeper.
  `code=$?; umask 077; echo "$code" >"$status" || printf '\n${PANE_STATUS_MARK}%s\n' "$code"; exit "$code"`,
].join("\n");

/** What the tmux runner needs besides a shell; null when either is missing. */
export function findTmuxTools(path: string | undefined): { tmux: string; setsid: string } | null {
  const tmux = findExecutable("tmux", path);
  const setsid = findExecutable("setsid", path);
  return tmux === null || setsid === null ? null : { tmux, setsid };
}

export const TMUX_MISSING = "tmux or setsid is not on PATH (apt-get install tmux util-linux)";

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs each agent in a tmux session a person can attach to, on a tmux server of its own whose
 * socket is under the state dir: never the user's server. One server per agent, because a
 * pane gets its environment from the server, and the server from the client that starts it;
 * so each agent's environment (its token, its keys) reaches it the way it reaches a plain
 * child, through exec, never on a command line that `ps` shows. Nothing is typed into a pane:
 * the prompt reaches the agent on stdin from a file, as with the process runner.
 */
export class TmuxRunner implements Runner {
  readonly kind = "tmux";

  constructor(
    private readonly tmuxPath: string,
    private readonly setsidPath: string,
    private readonly socketDir: string,
    private readonly wrapping: Wrapping,
  ) {}

  socketPath(name: string): string {
    return join(this.socketDir, `${name}.sock`);
  }

  start(launch: RunnerLaunch): Result<StartedAgent> {
    const { plan, name } = launch;
    const command = commandLine(launch, this.wrapping);
    if (!command.ok) return command;
    const { program, argv, env } = command.value;
    const socket = this.socketPath(name);
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      return fail(
        "LAUNCH_FAILED",
        `the tmux socket path ${socket} is longer than the ${MAX_SOCKET_PATH} bytes a socket path may have; set CORRAL_HOME to a shorter path`,
      );
    }
    // The mark goes to the agent alone, through the keeper's argv (it names the agent; it is
    // no secret): a server carrying it would be taken for one of the agent's processes.
    const serverEnv: Record<string, string> = { ...env };
    delete serverEnv[launch.mark.name];
    for (const variable of TMUX_VARIABLES) delete serverEnv[variable];
    argv.forEach((arg, i) => (serverEnv[`${ARG_PREFIX}${i}`] = arg));
    serverEnv[ARG_COUNT] = String(argv.length);
    const statusFile = join(launch.agentDir, EXIT_STATUS_FILE);
    let keeperPid: number;
    try {
      mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
      // The log pipe starts in the background: the log exists, private, from the deploy on.
      closeSync(openSync(launch.logPath, "a", 0o600));
      // One client invocation: tmux runs the whole command list before it reads anything from
      // the pane, so the log pipe is in place before the first byte of output. The server reads
      // no configuration (-f /dev/null): a user's could keep it up without sessions, or take
      // away the dead pane that holds the last output.
      const printed = execFileSync(
        this.tmuxPath,
        [
          "-S", socket, "-u", "-f", "/dev/null",
          "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", name, "-x", "200", "-y", "50", "-c", plan.cwd,
          "--",
          "/bin/sh", "-c", KEEPER, "keeper", statusFile, plan.stdinPath ?? "/dev/null", this.setsidPath, `${launch.mark.name}=${launch.mark.value}`, launch.cgroup ?? "",
          ";", "set-option", "-t", name, "remain-on-exit", "on",
          ";", "pipe-pane", "-t", name, "-O", `exec cat >> ${shellQuote(launch.logPath)}`,
        ],
        { env: serverEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: CLIENT_TIMEOUT_MS },
      );
      keeperPid = Number(printed.trim());
    } catch (cause) {
      return fail("LAUNCH_FAILED", `cannot start ${program} in tmux: ${clientError(cause)}`);
    }
    // On a failure from here on the agent's cleanup closes the session, and its sweep finds
    // by the mark whatever of the agent did start.
    const agent = waitForStoppedChild(keeperPid);
    if (agent === null) return fail("LAUNCH_FAILED", `the pane of tmux session ${name} did not start ${program} within ${START_WAIT_MS} ms`);
    const stat = readStat(agent.pid);
    const keeper = identify(keeperPid);
    if (stat === null || keeper === null || signalProcess(agent, "SIGCONT") !== "sent") {
      signalProcess(agent, "SIGKILL");
      return fail("LAUNCH_FAILED", `the pane of tmux session ${name} lost ${program} before it started`);
    }
    return ok({
      pid: agent.pid,
      startTime: agent.startTime,
      pgid: stat.pgrp,
      sid: stat.session,
      subreaper: this.wrapping.tiniPath !== null,
      exited: exitOf(keeper, statusFile, () => this.paneStatus(socket, name)),
    });
  }

  terminate(scope: AgentScope, options: TerminateOptions): Promise<TerminationReport> {
    return terminate(scope, options);
  }

  /**
   * Kills the agent's session and verifies that its server exits with it (a tmux server exits
   * when its last session goes), together with the server's log pipe. First it waits for the
   * pane to read as dead: tmux says so only once it has read the terminal to its end and the
   * log pipe has taken every byte, and a session killed sooner loses what is still in flight.
   * A server that stays is killed.
   */
  async release(name: string): Promise<ReleaseReport> {
    const socket = this.socketPath(name);
    if (!existsSync(socket)) return { outcome: "closed", detail: { socket, serverWasGone: true } };
    let server: ProcessIdentity | null;
    try {
      const { stdout } = await this.client(socket, "display-message", "-p", "#{pid}");
      server = identify(Number(stdout.trim()));
    } catch (cause) {
      // No server answers on the socket: only the file is left.
      rmSync(socket, { force: true });
      return { outcome: "closed", detail: { socket, serverWasGone: true, client: clientError(cause) } };
    }
    const owned = server === null ? [] : [server, ...childPids(server.pid).flatMap((pid) => identify(pid) ?? [])];
    const drained = await this.paneDead(socket, name);
    const killed = await this.client(socket, "kill-session", "-t", name).then(
      () => null,
      (cause: unknown) => clientError(cause),
    );
    let forced = false;
    if (!(await gone(owned, CLOSE_WAIT_MS))) {
      forced = true;
      for (const process of owned) signalProcess(process, "SIGKILL");
      await gone(owned, CLOSE_WAIT_MS);
    }
    rmSync(socket, { force: true });
    const survivors = owned.filter(isAlive).map((p) => p.pid);
    const detail = { socket, server: server?.pid ?? null, drained, killSession: killed ?? "ok", forced, survivors };
    if (survivors.length > 0) return { outcome: "failed", detail, message: `the tmux server and its log pipe did not exit: ${survivors.join(", ")}` };
    return { outcome: "closed", detail };
  }

  /**
   * The keeper writes the status even when no corral watches; it writes it just after the
   * agent's process is gone, so a moment is allowed for it.
   */
  async recordedExit(agentDir: string): Promise<ExitStatus | null> {
    const statusFile = join(agentDir, EXIT_STATUS_FILE);
    const deadline = performance.now() + RECORD_WAIT_MS;
    for (;;) {
      const status = readExitStatus(statusFile);
      if (status !== null) return status;
      if (performance.now() > deadline) break;
      await sleep(10);
    }
    // The agent dir is named for the agent, and so is its session.
    const name = basename(agentDir);
    return this.paneStatus(this.socketPath(name), name);
  }

  /**
   * The agent's exit code as tmux keeps it in memory, for when the keeper could not write it
   * down: the dead pane's status (set once tmux has reaped the keeper, which can take a while),
   * or else the last line the keeper printed in the pane. null when there is no such pane, or
   * neither by RECORD_WAIT_MS.
   */
  private async paneStatus(socket: string, name: string): Promise<ExitStatus | null> {
    const deadline = performance.now() + RECORD_WAIT_MS;
    while (performance.now() < deadline) {
      const dead = await this.client(socket, "display-message", "-p", "-t", name, "#{pane_dead_status}").then(
        ({ stdout }) => stdout.trim(),
        // No server or no session: nothing keeps a status.
        () => null,
      );
      if (dead === null) return null;
      if (/^\d+$/.test(dead)) return statusFromCode(Number(dead), true);
      const shown = await this.client(socket, "capture-pane", "-p", "-t", name, "-S", "-20").then(
        ({ stdout }) => stdout,
        () => "",
      );
      const printed = [...shown.matchAll(new RegExp(`^${PANE_STATUS_MARK}(\\d+)$`, "gm"))].at(-1)?.[1];
      if (printed !== undefined) return statusFromCode(Number(printed), true);
      await sleep(5);
    }
    return null;
  }

  /** The server above the pane's keeper, which is the root's parent, and the server's children. */
  companions(root: ProcessIdentity): ProcessIdentity[] {
    const keeper = statOf(root)?.ppid;
    const server = keeper === undefined ? undefined : readStat(keeper)?.ppid;
    if (server === undefined || readStat(server)?.comm.startsWith("tmux") !== true) return [];
    return [server, ...childPids(server)].flatMap((pid) => identify(pid) ?? []);
  }

  /**
   * Read-only: the agent reads its prompt from a file, never from the terminal, so keys could
   * only disturb the pane; a person detaches with the prefix key and d.
   */
  attachCommand(name: string): string[] {
    return [this.tmuxPath, "-S", this.socketPath(name), "attach-session", "-r", "-t", name];
  }

  /** Whether the pane read as dead within CLOSE_WAIT_MS. */
  private async paneDead(socket: string, name: string): Promise<boolean> {
    const deadline = performance.now() + CLOSE_WAIT_MS;
    while (performance.now() < deadline) {
      const dead = await this.client(socket, "display-message", "-p", "-t", name, "#{pane_dead}").then(
        ({ stdout }) => stdout.trim() === "1",
        // No such session, or no server: nothing is left to drain.
        () => true,
      );
      if (dead) return true;
      await sleep(5);
    }
    return false;
  }

  private client(socket: string, ...args: string[]): Promise<{ stdout: string }> {
    return execFileAsync(this.tmuxPath, ["-S", socket, ...args], { timeout: CLIENT_TIMEOUT_MS });
  }
}

/**
 * The keeper's child once it has stopped itself, ready to be continued (a grandchild, should
 * setsid have had to fork). start() is synchronous, as for every runner, and this takes a few
 * milliseconds: it blocks rather than yields.
 */
function waitForStoppedChild(keeperPid: number): ProcessIdentity | null {
  const deadline = performance.now() + START_WAIT_MS;
  while (performance.now() < deadline) {
    for (const pid of childPids(keeperPid).flatMap((child) => [child, ...childPids(child)])) {
      const stat = readStat(pid);
      if (stat?.state === "T") return { pid, startTime: stat.startTime };
    }
    Atomics.wait(pause, 0, 0, 1);
  }
  return null;
}

/**
 * The agent's end is the keeper's: it exits right after writing the agent's status. Not
 * corral's child, so it is watched through /proc. null when the keeper left no status (it
 * was killed itself).
 */
function exitOf(keeper: ProcessIdentity, statusFile: string, paneStatus: () => Promise<ExitStatus | null>): Promise<ExitStatus | null> {
  return new Promise((resolve) => {
    let delay = 1;
    const check = (): void => {
      if (isAlive(keeper)) {
        delay = Math.min(delay * 2, EXIT_POLL_MAX_MS);
        setTimeout(check, delay);
        return;
      }
      const written = readExitStatus(statusFile);
      if (written !== null) resolve(written);
      else void paneStatus().then(resolve);
    };
    check();
  });
}

/** null when the keeper wrote none, or when it cannot be read: either way the status is lost. */
function readExitStatus(statusFile: string): ExitStatus | null {
  let text: string;
  try {
    text = readFileSync(statusFile, "utf8").trim();
  } catch (cause) {
    if (cause instanceof Error) return null;
    throw cause;
  }
  // The keeper is a shell: it reports a death by signal N as 128+N, with tini or without.
  return /^\d+$/.test(text) ? statusFromCode(Number(text), true) : null;
}

async function gone(processes: readonly ProcessIdentity[], waitMs: number): Promise<boolean> {
  const deadline = performance.now() + waitMs;
  while (processes.some(isAlive)) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** tmux's own words on stderr, which say more than the exit code. */
function clientError(cause: unknown): string {
  const stderr = (cause as { stderr?: unknown }).stderr;
  const text = typeof stderr === "string" ? stderr.trim() : Buffer.isBuffer(stderr) ? stderr.toString("utf8").trim() : "";
  return text === "" ? describeUnknown(cause) : text;
}
