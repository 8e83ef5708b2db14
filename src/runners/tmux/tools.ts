import { findExecutable } from "../executables.js";

/** What the tmux runner needs besides a shell. */
export interface TmuxTools {
  readonly tmux: string;
  readonly setsid: string;
}

/** tmux and setsid on PATH; null when either is missing. */
export function findTmuxTools(path: string | undefined): TmuxTools | null {
  const tmux = findExecutable("tmux", path);
  const setsid = findExecutable("setsid", path);
  return tmux === null || setsid === null ? null : { tmux, setsid };
}

export const TMUX_MISSING = "tmux or setsid is not on PATH (apt-get install tmux util-linux)";
