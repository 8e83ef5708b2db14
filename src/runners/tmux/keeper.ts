import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { ExitStatus } from "../../domain/agent-state.js";
import { isAlive, type ProcessIdentity } from "../../supervisor/identity.js";
import { statusFromCode } from "../local/signals.js";
import type { KeeperWatch } from "./exit-watch.js";

const EXIT_POLL_MAX_MS = 50;

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
export const ARG_PREFIX = "CORRAL_PANE_ARG_";
export const ARG_COUNT = "CORRAL_PANE_ARGC";
/** What the keeper prints before the agent's exit code when it cannot write the status file. */
export const PANE_STATUS_MARK = "corral-exit-status: ";
export const KEEPER = [
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

/**
 * The agent's end is the keeper's: it exits right after writing the agent's status. Not
 * corral's child, so its end is seen by the status file it writes (see KeeperWatch), then
 * confirmed through /proc. null when the keeper left no status (it was killed itself) and tmux
 * keeps none either.
 */
export async function exitOf(
  keeper: ProcessIdentity,
  statusFile: string,
  watch: KeeperWatch,
  paneStatus: () => Promise<ExitStatus | null>,
): Promise<ExitStatus | null> {
  await watch.ended(keeper, statusFile);
  // The file is there as soon as the keeper opens it: the code, and the keeper's exit, follow
  // within moments.
  for (let delay = 1; isAlive(keeper); delay = Math.min(delay * 2, EXIT_POLL_MAX_MS)) await sleep(delay);
  return readExitStatus(statusFile) ?? paneStatus();
}

/** null when the keeper wrote none, or when it cannot be read: either way the status is lost. */
export function readExitStatus(statusFile: string): ExitStatus | null {
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
