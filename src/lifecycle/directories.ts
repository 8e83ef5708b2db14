import { realpathSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";

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
 * directory. Returns the resolved path; every refusal names `field`.
 */
export function workingDirectory(path: string, field: string): Result<string> {
  if (path.includes("\0")) return fail("INVALID_INPUT", `${field}: may not contain a NUL byte`);
  if (!isAbsolute(path)) return fail("INVALID_INPUT", `${field}: must be an absolute path, not ${JSON.stringify(path)}`);
  let resolved: string;
  try {
    resolved = realpathSync(path);
  } catch (cause) {
    const code = String((cause as { code?: unknown }).code);
    return fail("INVALID_INPUT", `${field}: ${path} ${UNRESOLVABLE[code] ?? `cannot be resolved: ${describeUnknown(cause)}`}`);
  }
  try {
    if (!statSync(resolved).isDirectory()) return fail("INVALID_INPUT", `${field}: ${path} is not a directory`);
  } catch (cause) {
    // Removed or made unreadable between the two calls.
    return fail("INVALID_INPUT", `${field}: ${path} cannot be read: ${describeUnknown(cause)}`);
  }
  return ok(resolved);
}
