import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

/**
 * The absolute path `name` resolves to (a path with a slash against `cwd`, a bare name on
 * PATH), or null. Resolving before spawning turns a missing program into a clear launch error
 * instead of an exit code from a child.
 */
export function findExecutable(name: string, path: string | undefined, cwd: string = process.cwd()): string | null {
  if (name.includes("/")) {
    const target = resolve(cwd, name);
    return isExecutableFile(target) ? target : null;
  }
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === "ENOENT" || code === "EACCES" || code === "ENOTDIR" || code === "ELOOP") return false;
    throw cause;
  }
}
