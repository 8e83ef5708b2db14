import { existsSync } from "node:fs";
import { isAlive, type ProcessIdentity } from "../../supervisor/identity.js";

/** How often the watched keepers' status files are looked for: one stat each. */
export const STATUS_POLL_MS = 250;
/**
 * Every this many looks the keepers themselves are looked at too (a read of /proc each), for
 * a keeper that ended without writing its status file (killed with its pane or server).
 */
export const KEEPER_LOOK_EVERY = 4;

interface Watched {
  readonly keeper: ProcessIdentity;
  readonly statusFile: string;
  readonly ended: () => void;
}

/**
 * When each tmux agent's keeper has written its status file, or is gone without: one timer
 * for every agent of a runner, running only while some agent is watched. A look costs one
 * stat per agent (the keeper writes the file the moment the agent ends, then exits), and once
 * a second a read of each keeper's /proc entry; nothing between looks.
 *
 * Not fs.watch: inotify is missing or silent on some file systems (network, some overlays),
 * its watches are a per-user limit shared with every editor, and Node keeps its descriptor
 * open for the life of the process once one watch was made. A stat of a file that does not
 * exist costs about a microsecond.
 */
export class KeeperWatch {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | null = null;
  private looks = 0;

  /** Settles once the keeper wrote the status file, or is gone without writing it. */
  ended(keeper: ProcessIdentity, statusFile: string): Promise<void> {
    return new Promise((ended) => {
      this.watched.add({ keeper, statusFile, ended });
      // Left referenced, like a child process: a command waiting for its agents keeps running.
      this.timer ??= setInterval(() => this.look(), STATUS_POLL_MS);
    });
  }

  private look(): void {
    this.looks += 1;
    const keepers = this.looks % KEEPER_LOOK_EVERY === 0;
    for (const watched of this.watched) {
      if (!existsSync(watched.statusFile) && (!keepers || isAlive(watched.keeper))) continue;
      this.watched.delete(watched);
      watched.ended();
    }
    if (this.watched.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
