import { closeSync, existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as z from "zod";
import type { ExitStatus } from "../../domain/agent-state.js";
import { fail, ok, type Result } from "../../domain/errors.js";
import { identify, isAlive, signalProcess, statOf, type ProcessIdentity } from "../../supervisor/identity.js";
import { childPids, readStat } from "../../supervisor/procfs.js";
import { commandLine } from "../local/command-line.js";
import { localHandleFields, type LocalRoot } from "../local/handle.js";
import { LocalRunner, type LocalSetup } from "../local/local-runner.js";
import { statusFromCode } from "../local/signals.js";
import type { AgentHandle, Placement, ReleaseReport, RunnerCapabilities, RunnerLaunch } from "../runner.js";
import { clientError, tmuxClient } from "./client.js";
import { KeeperWatch } from "./exit-watch.js";
import { ARG_COUNT, ARG_PREFIX, exitOf, KEEPER, PANE_STATUS_MARK, readExitStatus } from "./keeper.js";
import { TMUX_MISSING, type TmuxTools } from "./tools.js";

/** How long a new pane may take to show its agent process, stopped and ready to go. */
const START_WAIT_MS = 5000;
const CLOSE_WAIT_MS = 2000;
const RECORD_WAIT_MS = 1000;
/** sun_path holds 108 bytes with the closing NUL. */
const MAX_SOCKET_PATH = 107;
const EXIT_STATUS_FILE = "tmux-exit-status";
/** Names tmux gives a pane of its own, and that an agent must not take from the launching shell. */
const TMUX_VARIABLES = ["TMUX", "TMUX_PANE"];

const TmuxHandleSchema = z.object({
  runner: z.literal("tmux"),
  /** The agent's id, which is also its session's name. */
  name: z.string().min(1),
  ...localHandleFields,
  /** Where the pane's keeper writes the agent's exit status. */
  statusFile: z.string().min(1),
});
type TmuxHandle = z.infer<typeof TmuxHandleSchema>;

/**
 * Runs each agent in a tmux session a person can attach to, on a tmux server of its own whose
 * socket is under the state dir: never the user's server. One server per agent, because a
 * pane gets its environment from the server, and the server from the client that starts it;
 * so each agent's environment (its token, its keys) reaches it the way it reaches a plain
 * child, through exec, never on a command line that `ps` shows. Nothing is typed into a pane:
 * the prompt reaches the agent on stdin from a file, as with the process runner.
 *
 * Without tmux on PATH it still stops, verifies and inspects its agents (that is all /proc),
 * but starts none and cannot close a session.
 *
 * A little over 300 lines: start, adoption and release each wait on tmux in their own way,
 * and the keeper's protocol (keeper.ts) and the client (client.ts) are already apart.
 */
export class TmuxRunner extends LocalRunner<TmuxHandle> {
  readonly kind = "tmux";
  readonly unavailable: string | null;
  protected readonly schema = TmuxHandleSchema;
  /** The keepers of the agents this runner started, watched for their ends by one timer. */
  private readonly keepers = new KeeperWatch();

  constructor(
    private readonly tools: TmuxTools | null,
    private readonly socketDir: string,
    setup: LocalSetup,
  ) {
    super(setup);
    this.unavailable = tools === null ? TMUX_MISSING : null;
  }

  override get capabilities(): RunnerCapabilities {
    return { ...super.capabilities, attach: true, exitStatusAfterAdoption: true };
  }

  protected placed(placement: Placement, cgroup: string | null): TmuxHandle {
    return {
      runner: "tmux",
      name: placement.name,
      mark: `${placement.mark.name}=${placement.mark.value}`,
      cgroup,
      root: null,
      statusFile: join(placement.agentDir, EXIT_STATUS_FILE),
    };
  }

  protected async launch(handle: TmuxHandle, launch: RunnerLaunch): Promise<Result<{ root: LocalRoot; exited: Promise<ExitStatus | null> }>> {
    if (this.tools === null) return fail("LAUNCH_FAILED", `cannot start ${handle.name} in tmux: ${TMUX_MISSING}`);
    const { tmux, setsid } = this.tools;
    const { plan } = launch;
    const { name } = handle;
    const socket = this.socketPath(handle);
    const command = commandLine(handle.mark, plan, this.setup.wrapping);
    if (!command.ok) return command;
    const { program, argv, env, markName } = command.value;
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      return fail(
        "LAUNCH_FAILED",
        `the tmux socket path ${socket} is longer than the ${MAX_SOCKET_PATH} bytes a socket path may have; set CORRAL_HOME to a shorter path`,
      );
    }
    // The mark goes to the agent alone, through the keeper's argv (it names the agent; it is
    // no secret): a server carrying it would be taken for one of the agent's processes.
    const serverEnv: Record<string, string> = { ...env };
    delete serverEnv[markName];
    for (const variable of TMUX_VARIABLES) delete serverEnv[variable];
    argv.forEach((arg, i) => (serverEnv[`${ARG_PREFIX}${i}`] = arg));
    serverEnv[ARG_COUNT] = String(argv.length);
    let keeperPid: number;
    try {
      mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
      // The log pipe starts in the background: the log exists, private, from the deploy on.
      closeSync(openSync(launch.logPath, "a", 0o600));
      // One client invocation: tmux runs the whole command list before it reads anything from
      // the pane, so the log pipe is in place before the first byte of output. The server reads
      // no configuration (-f /dev/null): a user's could keep it up without sessions, or take
      // away the dead pane that holds the last output.
      const { stdout } = await tmuxClient(
        tmux,
        socket,
        [
          "-u", "-f", "/dev/null",
          "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", name, "-x", "200", "-y", "50", "-c", plan.cwd,
          "--",
          "/bin/sh", "-c", KEEPER, "keeper", handle.statusFile, plan.stdinPath ?? "/dev/null", setsid, handle.mark, handle.cgroup ?? "",
          ";", "set-option", "-t", name, "remain-on-exit", "on",
          ";", "pipe-pane", "-t", name, "-O", `exec cat >> ${shellQuote(launch.logPath)}`,
        ],
        serverEnv,
      );
      keeperPid = Number(stdout.trim());
    } catch (cause) {
      return fail("LAUNCH_FAILED", `cannot start ${program} in tmux: ${clientError(cause)}`);
    }
    // On a failure from here on the agent's cleanup closes the session, and its sweep finds
    // by the mark whatever of the agent did start.
    const agent = await stoppedChild(keeperPid);
    if (agent === null) return fail("LAUNCH_FAILED", `the pane of tmux session ${name} did not start ${program} within ${START_WAIT_MS} ms`);
    const stat = readStat(agent.pid);
    const keeper = identify(keeperPid);
    if (stat === null || keeper === null || signalProcess(agent, "SIGCONT") !== "sent") {
      signalProcess(agent, "SIGKILL");
      return fail("LAUNCH_FAILED", `the pane of tmux session ${name} lost ${program} before it started`);
    }
    return ok({
      root: { pid: agent.pid, startTime: agent.startTime, sid: stat.session, subreaper: this.setup.wrapping.tiniPath !== null },
      exited: exitOf(keeper, handle.statusFile, this.keepers, () => this.paneStatus(handle)),
    });
  }

  /**
   * Kills the agent's session and verifies that its server exits with it (a tmux server exits
   * when its last session goes), together with the server's log pipe. First it waits for the
   * pane to read as dead: tmux says so only once it has read the terminal to its end and the
   * log pipe has taken every byte, and a session killed sooner loses what is still in flight.
   * A server that stays is killed.
   */
  async release(stored: AgentHandle): Promise<ReleaseReport> {
    const handle = this.local(stored);
    const { name } = handle;
    const socket = this.socketPath(handle);
    if (this.tools === null) return { outcome: "failed", detail: { socket }, message: `the tmux runner is not available here: ${TMUX_MISSING}` };
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
    const drained = await this.paneDead(handle);
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
  async wait(stored: AgentHandle): Promise<ExitStatus | null> {
    const handle = this.local(stored);
    const deadline = performance.now() + RECORD_WAIT_MS;
    for (;;) {
      const status = readExitStatus(handle.statusFile);
      if (status !== null) return status;
      if (performance.now() > deadline) break;
      await sleep(10);
    }
    return this.paneStatus(handle);
  }

  /**
   * The agent's exit code as tmux keeps it in memory, for when the keeper could not write it
   * down: the dead pane's status (set once tmux has reaped the keeper, which can take a while),
   * or else the last line the keeper printed in the pane. null when there is no such pane, or
   * neither by RECORD_WAIT_MS.
   */
  private async paneStatus(handle: TmuxHandle): Promise<ExitStatus | null> {
    const { name } = handle;
    const socket = this.socketPath(handle);
    const deadline = performance.now() + RECORD_WAIT_MS;
    while (this.tools !== null && performance.now() < deadline) {
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
  protected companions({ root }: TmuxHandle): ProcessIdentity[] {
    const keeper = root === null ? undefined : statOf(root)?.ppid;
    const server = keeper === undefined ? undefined : readStat(keeper)?.ppid;
    if (server === undefined || readStat(server)?.comm.startsWith("tmux") !== true) return [];
    return [server, ...childPids(server)].flatMap((pid) => identify(pid) ?? []);
  }

  /**
   * Read-only: the agent reads its prompt from a file, never from the terminal, so keys could
   * only disturb the pane; a person detaches with the prefix key and d.
   */
  attach(stored: AgentHandle): Result<readonly string[]> {
    const handle = this.local(stored);
    const { name } = handle;
    const socket = this.socketPath(handle);
    if (this.tools === null) return fail("NOT_ATTACHABLE", `${name} runs in tmux, but ${TMUX_MISSING}`);
    return ok([this.tools.tmux, "-S", socket, "attach-session", "-r", "-t", name]);
  }

  /** Whether the pane read as dead within CLOSE_WAIT_MS. */
  private async paneDead(handle: TmuxHandle): Promise<boolean> {
    const { name } = handle;
    const socket = this.socketPath(handle);
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

  /**
   * The agent's own server's socket, in the state dir's socket dir: named for the agent, so the
   * handle need not carry a path the state dir already fixes.
   */
  private socketPath({ name }: TmuxHandle): string {
    return join(this.socketDir, `${name}.sock`);
  }

  private client(socket: string, ...args: string[]): Promise<{ stdout: string }> {
    if (this.tools === null) return Promise.reject(new Error(TMUX_MISSING));
    return tmuxClient(this.tools.tmux, socket, args);
  }
}

/**
 * The keeper's child once it has stopped itself, ready to be continued (a grandchild, should
 * setsid have had to fork). It takes a few milliseconds; the event loop runs meanwhile.
 */
async function stoppedChild(keeperPid: number): Promise<ProcessIdentity | null> {
  const deadline = performance.now() + START_WAIT_MS;
  while (performance.now() < deadline) {
    for (const pid of childPids(keeperPid).flatMap((child) => [child, ...childPids(child)])) {
      const stat = readStat(pid);
      if (stat?.state === "T") return { pid, startTime: stat.startTime };
    }
    await sleep(1);
  }
  return null;
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
