import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/**
 * The absolute path `name` resolves to on PATH, or null. Resolving before spawning turns a
 * missing program into a clear launch error instead of an exit code from a child.
 */
export function findExecutable(name: string, path: string | undefined): string | null {
  if (name.includes("/")) return isExecutableFile(name) ? (isAbsolute(name) ? name : join(process.cwd(), name)) : null;
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
