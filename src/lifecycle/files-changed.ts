import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const SKIPPED = new Set([".git", "node_modules", ".hg", ".svn", "dist", "build", ".venv", "target"]);
const MAX_ENTRIES = 20_000;

/**
 * How many files under `dir` were modified at or after `since` (ms), walking at most
 * MAX_ENTRIES entries and skipping VCS and dependency folders; null when the walk was cut
 * short or the dir cannot be read, so that no count is ever a guess.
 */
export function countFilesChanged(dir: string, since: number): number | null {
  let seen = 0;
  let changed = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      if (code !== "EACCES" && code !== "ENOENT" && code !== "ENOTDIR") throw cause;
      if (current === dir) return null;
      continue;
    }
    for (const entry of entries) {
      seen += 1;
      if (seen > MAX_ENTRIES) return null;
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) stack.push(path);
      } else if (entry.isFile()) {
        try {
          if (statSync(path).mtimeMs >= since) changed += 1;
        } catch (cause) {
          if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
        }
      }
    }
  }
  return changed;
}
