import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describeUnknown } from "../../domain/errors.js";

const execFileAsync = promisify(execFile);
/** A tmux client that does not answer within this is given up on, never waited for forever. */
const CLIENT_TIMEOUT_MS = 5000;

/**
 * Runs one tmux client against the server on `socket`, without blocking the event loop. The
 * environment is the one a new server takes for its panes; the default is corral's own.
 */
export function tmuxClient(tmux: string, socket: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ stdout: string }> {
  return execFileAsync(tmux, ["-S", socket, ...args], { encoding: "utf8", timeout: CLIENT_TIMEOUT_MS, ...(env === undefined ? {} : { env }) });
}

/** tmux's own words on stderr, which say more than the exit code. */
export function clientError(cause: unknown): string {
  const stderr = (cause as { stderr?: unknown }).stderr;
  const text = typeof stderr === "string" ? stderr.trim() : Buffer.isBuffer(stderr) ? stderr.toString("utf8").trim() : "";
  return text === "" ? describeUnknown(cause) : text;
}
