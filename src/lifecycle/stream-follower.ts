import type { Logger } from "pino";
import { describeUnknown } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";
import type { StreamEvent } from "../domain/stream-events.js";
import { isUnwritable } from "../store/database.js";
import type { Store } from "../store/store.js";
import { statOrNull } from "./file-stat.js";
import { readStream } from "./stream-reader.js";

interface Followed {
  readonly parseLine: (line: string) => StreamEvent[];
  readonly counted: Set<string>;
  /** Reads that failed in a row. */
  failures: number;
  /** The agent's log, once its row was read. */
  logPath: string | null;
  /** The log's size when it was last read (or found unchanged): the read's change marker. */
  seen: number;
}

/**
 * Failed reads in a row after which an agent is no longer followed: an error that lasts this
 * long (an unreadable log) will not go away by retrying. Its end reads the log once more.
 */
export const FOLLOW_FAILURES_ALLOWED = 8;

/**
 * Keeps the store up to date with what running agents' output streams say (session, tokens,
 * tool calls, latest text). Every interval each log is looked at with one stat; only a log
 * that grew since the last look has its row read and its new bytes read and stored, so a
 * quiet agent costs a stat. Opens, reads and closes: it holds no descriptor between reads.
 *
 * A stat rather than fs.watch: inotify is silent on some file systems and its watches are a
 * per-user limit, while a stat costs about two microseconds; and a busy log would raise an
 * event for every write, where the interval takes all of them in one read.
 */
export class StreamFollower {
  private readonly followed = new Map<AgentId, Followed>();
  private timer: NodeJS.Timeout | null = null;
  /** Whether the database refused the last write: reads wait until it takes writes again. */
  private refused = false;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  follow(id: AgentId, parseLine: (line: string) => StreamEvent[]): void {
    this.followed.set(id, { parseLine, counted: new Set(), failures: 0, logPath: null, seen: -1 });
    if (this.timer === null) {
      this.timer = setInterval(() => this.poll(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Reads the rest of the agent's stream, partial last line included, and stops following it. */
  drain(id: AgentId, parseLine: (line: string) => StreamEvent[]): void {
    const followed = this.followed.get(id);
    this.unfollow(id);
    const agent = this.store.agents.get(id);
    if (agent !== null) readStream(this.store, agent, parseLine, followed?.counted ?? new Set(), true);
  }

  stop(): void {
    this.followed.clear();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private unfollow(id: AgentId): void {
    this.followed.delete(id);
    if (this.followed.size === 0) this.stop();
  }

  /** One look at every followed log; the timer makes one each interval. */
  poll(): void {
    // Each agent's read ends in a write: once one was refused (another process holds the lock),
    // the next rounds ask first, without waiting, instead of each read waiting for it in turn.
    if (this.refused && !this.store.writableNow()) return;
    this.refused = false;
    for (const [id, followed] of this.followed) {
      try {
        let size = followed.logPath === null ? null : sizeOf(followed.logPath);
        if (size !== null && size === followed.seen) continue;
        const agent = this.store.agents.get(id);
        if (agent === null || agent.endedAt !== null) {
          this.unfollow(id);
          continue;
        }
        if (size === null) {
          followed.logPath = agent.logPath;
          size = sizeOf(agent.logPath);
        }
        readStream(this.store, agent, followed.parseLine, followed.counted, false);
        // The size from before the read: bytes written since are read at the next look. A
        // refused write (thrown) leaves the size unseen, so the same bytes are read again.
        followed.seen = size;
        followed.failures = 0;
      } catch (cause) {
        if (isUnwritable(cause)) {
          this.refused = true;
          return;
        }
        followed.failures += 1;
        if (followed.failures < FOLLOW_FAILURES_ALLOWED) {
          this.logger.warn({ agent: id, err: describeUnknown(cause) }, "reading the agent's stream failed");
          continue;
        }
        this.unfollow(id);
        this.logger.error(
          { agent: id, err: describeUnknown(cause), failures: followed.failures },
          "stopped following the agent's stream: every read failed; it is read again when the agent ends",
        );
      }
    }
  }
}

const sizeOf = (path: string): number => statOrNull(path)?.size ?? 0;
