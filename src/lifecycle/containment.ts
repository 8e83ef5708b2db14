import { realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../domain/config.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { resolveInside } from "../domain/paths.js";
import type { Mount } from "../runners/bwrap.js";

/** Sub-dirs of a task's workspace that hold other agents' files: never shown to an agent. */
const TASK_PRIVATE = ["agents", "logs", "archive"] as const;
/**
 * Where people keep keys, credentials and their other work (and, under /run/user, sockets
 * such as ssh-agent's): hidden from an agent unless allowed.
 */
const PERSONAL = ["/home", "/root", "/run/user"] as const;

export interface ViewOf {
  /** corral's state dir. */
  readonly home: string;
  /** The home dir of the user corral runs as. */
  readonly userHome: string;
  readonly workspace: string;
  readonly cwd: string;
  readonly agentDir: string;
  readonly relayDir: string;
  /** What the agent needs to run at all (its program, node, corral's own code), shown read-only. */
  readonly needs: readonly string[];
}

/**
 * What a contained agent sees: the host read-only but for people's home dirs, with its cwd,
 * its own dir and its relay dir writable, what it needs to run and the paths the user allowed,
 * and nothing of the state dir: no database, no other agent's dir, log or archive. A cwd
 * inside the state dir is accepted only inside the agent's own task workspace and outside its
 * agents, logs and archive dirs.
 */
export function containedView(view: ViewOf, config: Pick<Config, "containmentReadOnly" | "containmentWritable">): Result<Mount[]> {
  const home = realpathSync(view.home);
  const cwd = realpathSync(view.cwd);
  const personal = [...new Set([...PERSONAL, view.userHome])].filter(isDirectory);
  const mounts: Mount[] = [
    ...personal.map((path) => ({ kind: "hide" as const, path })),
    ...view.needs.map((path) => ({ kind: "read" as const, path })),
    ...config.containmentReadOnly.map((path) => ({ kind: "read" as const, path })),
    ...config.containmentWritable.map((path) => ({ kind: "write" as const, path })),
    { kind: "write", path: cwd },
    { kind: "hide", path: home },
  ];
  if (resolveInside(home, cwd).ok) {
    const workspace = realpathSync(view.workspace);
    const outside = `under containment, an agent's cwd inside the state dir must be in its own task's workspace (${workspace}), outside its agents, logs and archive dirs; ${cwd} is not`;
    if (!resolveInside(workspace, cwd).ok) return fail("INVALID_INPUT", outside);
    if (TASK_PRIVATE.some((sub) => resolveInside(join(workspace, sub), cwd).ok)) return fail("INVALID_INPUT", outside);
    mounts.push({ kind: "write", path: cwd });
    for (const sub of TASK_PRIVATE) {
      if (resolveInside(cwd, join(workspace, sub)).ok) mounts.push({ kind: "hide", path: join(workspace, sub) });
    }
  }
  mounts.push({ kind: "write", path: realpathSync(view.agentDir) }, { kind: "write", path: realpathSync(view.relayDir) });
  return ok(mounts);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return false;
    throw cause;
  }
}
