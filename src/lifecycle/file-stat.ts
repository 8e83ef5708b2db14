import { statSync, type Stats } from "node:fs";

/** The file's stat, or null when it does not exist (yet, or any more). */
export function statOrNull(path: string): Stats | null {
  // Without an exception for a missing file: the reaper and the follower ask of many.
  return statSync(path, { throwIfNoEntry: false }) ?? null;
}

/** When a file was last written, in ms; 0 when it does not exist. */
export const modifiedAt = (path: string): number => statOrNull(path)?.mtimeMs ?? 0;
