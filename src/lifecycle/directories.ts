import { accessSync, constants, mkdirSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { underKernelFs } from "../domain/config.js";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import { statOrNull } from "./file-stat.js";

/** Why a path cannot be resolved, in words, for the errors a caller can act on. */
const UNRESOLVABLE: Readonly<Record<string, string>> = {
  ENOENT: "does not exist",
  ENOTDIR: "goes through something that is not a directory",
  ELOOP: "goes through a loop of symbolic links",
  EACCES: "cannot be reached: permission denied",
  ENAMETOOLONG: "is too long",
};

/**
 * A directory agents work in, checked before anything is created for them: an absolute path,
 * without a NUL byte, that resolves (symbolic links followed, no loop) to an existing
 * directory. Returns the resolved path; every refusal names `field` (in snake_case).
 */
export function workingDirectory(path: string, field: string): Result<string> {
  if (path.includes("\0")) return fail("INVALID_INPUT", "may not contain a NUL byte", field);
  if (!isAbsolute(path)) return fail("INVALID_INPUT", `must be an absolute path, not ${JSON.stringify(path)}`, field);
  let resolved: string;
  try {
    resolved = realpathSync(path);
  } catch (cause) {
    const code = String((cause as { code?: unknown }).code);
    return fail("INVALID_INPUT", `${path} ${UNRESOLVABLE[code] ?? `cannot be resolved: ${describeUnknown(cause)}`}`, field);
  }
  try {
    if (!statSync(resolved).isDirectory()) return fail("INVALID_INPUT", `${path} is not a directory`, field);
  } catch (cause) {
    // Removed or made unreadable between the two calls.
    return fail("INVALID_INPUT", `${path} cannot be read: ${describeUnknown(cause)}`, field);
  }
  return ok(resolved);
}

/**
 * Creates a dir and its missing parents one level at a time, each with `mode`. A failure is
 * returned at once: Node's own recursive mkdir can retry forever where the kernel answers
 * ENOENT for a parent that exists (under /proc).
 */
export function makeDirs(path: string, mode: number): Result<void> {
  const parts = resolve(path).split(sep).filter((part) => part !== "");
  let current: string = sep;
  for (const part of parts) {
    current = join(current, part);
    try {
      mkdirSync(current, { mode });
    } catch (cause) {
      if ((cause as { code?: unknown }).code !== "EEXIST") return fail("DB_UNAVAILABLE", `cannot create ${current}: ${describeUnknown(cause)}`);
      if (!statSync(current).isDirectory()) return fail("DB_UNAVAILABLE", `cannot create ${path}: ${current} is not a directory`);
    }
  }
  return ok(undefined);
}

/**
 * Whether `path` can be a state dir, checked before anything is made there: an existing
 * directory, or one that can be created in its nearest existing ancestor, a directory we may
 * write to; and, symbolic links followed, not on a kernel file system. Returns why not.
 */
export function stateDirProblem(path: string): string | null {
  const target = resolve(path);
  let existing = target;
  try {
    for (;;) {
      const stat = statOrNull(existing);
      if (stat !== null) {
        if (stat.isDirectory()) break;
        return existing === target ? `${path} is not a directory` : `${path} cannot be created: ${existing} is not a directory`;
      }
      const parent = dirname(existing);
      // Each step is one level up, and the root exists: this ends.
      if (parent === existing) return `${path} cannot be created: no part of it exists`;
      existing = parent;
    }
    const real = realpathSync(existing);
    if (underKernelFs(real)) return `${path} is on a kernel file system (${real}): it can hold no files`;
    if (existing !== target) accessSync(existing, constants.W_OK | constants.X_OK);
  } catch (cause) {
    return `${path} cannot be used: ${describeUnknown(cause)}`;
  }
  return null;
}
