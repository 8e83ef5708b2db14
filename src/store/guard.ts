/**
 * Runs a write; when SQLite reports the disk full, asks `onFull` to free space (corral keeps a
 * ballast file for this) and, if it did, tries once more. Without it, a disk filled by an
 * agent's output would leave corral unable to record that agent's end.
 */
export type WriteGuard = <T>(write: () => T) => T;

export function diskFullGuard(onFull: () => boolean): WriteGuard {
  return <T>(write: () => T): T => {
    try {
      return write();
    } catch (cause) {
      if ((cause as { code?: unknown }).code !== "SQLITE_FULL" || !onFull()) throw cause;
      return write();
    }
  };
}

export const unguarded: WriteGuard = (write) => write();
