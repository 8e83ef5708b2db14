import { rmdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * rmdir `dir` and up to `levels - 1` of its parents, stopping at the first that is not empty
 * (or is gone already): a dir corral made for files it has removed goes with the last of them,
 * and never one that something else still uses.
 */
export function removeEmptyDirs(dir: string, levels = 1): void {
  let current = dir;
  for (let level = 0; level < levels; level += 1) {
    try {
      rmdirSync(current);
    } catch (cause) {
      const code = String((cause as { code?: unknown }).code);
      if (code === "ENOTEMPTY" || code === "EEXIST" || code === "EBUSY") return;
      if (code !== "ENOENT") throw cause;
    }
    current = dirname(current);
  }
}
