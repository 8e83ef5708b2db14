import { execFileSync } from "node:child_process";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import { findExecutable } from "./executables.js";

/**
 * One step of an agent's file-system view, applied in order (a later step covers an earlier
 * one): `read` and `write` show a path of the host read-only or read-write (a missing path is
 * skipped), `hide` puts an empty private tmpfs over it.
 */
export interface Mount {
  readonly kind: "read" | "write" | "hide";
  readonly path: string;
}

/**
 * The bubblewrap argv that runs a program in `mounts`' view, followed by the program's argv.
 * Everything of the host is read-only unless a mount says otherwise, /tmp is empty and
 * private, and the agent gets a pid namespace of its own, so /proc shows no other process
 * (and no other agent's environment), and everything in it dies with the namespace's first
 * process. bubblewrap keeps the session and process group it was started in, so corral's
 * sweeps and group signals reach everything inside. No `--die-with-parent`: without tini the
 * parent is the corral that launched the agent, and an agent must outlive its corral to be
 * detached or adopted.
 */
export function bwrapArgv(bwrap: string, mounts: readonly Mount[], cwd: string): string[] {
  const argv = [bwrap, "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"];
  for (const mount of mounts) {
    if (mount.kind === "read") argv.push("--ro-bind-try", mount.path, mount.path);
    else if (mount.kind === "write") argv.push("--bind-try", mount.path, mount.path);
    else argv.push("--tmpfs", mount.path);
  }
  argv.push("--chdir", cwd, "--");
  return argv;
}

export const BWRAP_MISSING = "bwrap is not on PATH (apt-get install bubblewrap)";

/**
 * bwrap's path when it is on PATH and can make a sandbox here (user namespaces may be
 * disabled, or a container may forbid mounts), or why not.
 */
export function findBwrap(path: string | undefined): Result<string> {
  const bwrap = findExecutable("bwrap", path);
  if (bwrap === null) return fail("CONFIG_INVALID", BWRAP_MISSING);
  try {
    execFileSync(bwrap, [...bwrapArgv(bwrap, [], "/").slice(1), "/bin/true"], { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
    return ok(bwrap);
  } catch (cause) {
    const stderr = (cause as { stderr?: Buffer }).stderr?.toString().trim();
    return fail("CONFIG_INVALID", `bwrap cannot make a sandbox on this machine: ${stderr || describeUnknown(cause)}`);
  }
}
