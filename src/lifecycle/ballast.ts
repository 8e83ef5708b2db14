import { existsSync, rmSync, writeFileSync } from "node:fs";

/**
 * A file of reserved space in the state dir. When an agent's output fills the disk, SQLite can
 * no longer record anything — not even that agent's end — so the ballast is deleted to make
 * room for the records, and made again once there is space. Its absence also tells every
 * corral process that the disk ran full.
 */
export class Ballast {
  constructor(
    private readonly path: string,
    private readonly bytes: number,
  ) {}

  /** Whether space is reserved now (always false when no ballast is configured). */
  present(): boolean {
    return this.bytes > 0 && existsSync(this.path);
  }

  /** Whether the disk ran full since the ballast was last made. */
  spent(): boolean {
    return this.bytes > 0 && !existsSync(this.path);
  }

  /** Makes the ballast when it is missing; false when there is no room for it. */
  ensure(): boolean {
    if (this.bytes === 0 || existsSync(this.path)) return this.bytes > 0;
    try {
      writeFileSync(this.path, Buffer.alloc(this.bytes), { mode: 0o600, flag: "wx" });
      return true;
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      if (code !== "ENOSPC" && code !== "EDQUOT" && code !== "EEXIST") throw cause;
      if (code !== "EEXIST") rmSync(this.path, { force: true });
      return code === "EEXIST";
    }
  }

  /** Frees the reserved space; true when there was some to free. */
  release(): boolean {
    if (!this.present()) return false;
    rmSync(this.path, { force: true });
    return true;
  }
}
