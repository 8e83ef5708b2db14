import { createHash } from "node:crypto";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { fail, ok, type Result } from "./errors.js";

/**
 * Resolves `candidate` against `root` and refuses anything that lands outside it, so that no
 * id, name or user-given path can make corral write or delete beyond a workspace. Pure: the
 * caller checks symlinks against the real path when the file exists.
 */
export function resolveInside(root: string, candidate: string): Result<string> {
  if (candidate.includes("\0")) return fail("PATH_OUTSIDE_WORKSPACE", "a path may not contain a NUL byte");
  const base = resolve(root);
  const target = resolve(base, candidate);
  const rel = relative(base, target);
  if (rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel))) return ok(target);
  return fail("PATH_OUTSIDE_WORKSPACE", `${candidate} is outside the workspace ${base}`);
}

/**
 * A short name for a state dir, for what corral keeps for it outside it (its agents' cgroups,
 * the spare journal): every corral on one state dir finds the same place, whatever path it
 * was given to it by.
 */
export function stateDirKey(home: string): string {
  return createHash("sha256").update(resolve(home)).digest("hex").slice(0, 16);
}
