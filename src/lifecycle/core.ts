import { chmodSync, renameSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { lineParser, type Backend } from "../backends/backend.js";
import { newCleanupClaim, type CleanupClaim } from "../domain/cleanup-state.js";
import type { Config } from "../domain/config.js";
import { describeUnknown, ok, unwrap, type CorralError, type Result } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";
import type { StreamEvent } from "../domain/stream-events.js";
import type { ProcessIdentity } from "../runners/host.js";
import type { Runners } from "../runners/registry.js";
import type { AgentHandle, Runner } from "../runners/runner.js";
import type { AgentRecord } from "../store/records.js";
import { isUnwritable } from "../store/database.js";
import type { Store } from "../store/store.js";
import type { Ballast } from "./ballast.js";
import { handleOf } from "./handles.js";
import type { PendingRecords } from "./pending-records.js";
import type { AgentEndpoints } from "./agent-endpoints.js";
import type { Relays } from "./relays.js";
import type { StreamFollower } from "./stream-follower.js";
import type { Workspaces } from "./workspace.js";

/** How long a call waits (with the event loop free) for a database another process has locked. */
const CALL_WRITE_WAIT_MS = 1000;
/** How often a write that must happen asks again whether the database takes writes. */
export const WRITABLE_POLL_MS = 200;

/** The parts and tools of one corral process, as opened (see opening.ts). */
export interface CoreParts {
  readonly config: Config;
  readonly store: Store;
  readonly logger: Logger;
  readonly owner: ProcessIdentity;
  readonly workspaces: Workspaces;
  readonly runners: Runners;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly streams: StreamFollower;
  readonly pending: PendingRecords;
  readonly relays: Relays;
  readonly endpoints: AgentEndpoints;
  readonly ballast: Ballast;
  readonly bwrap: string | null;
  readonly usesSubreaper: boolean;
}

/**
 * What every part of the service (deployment, termination, recovery, queries, upkeep) shares:
 * the opened parts, whether this corral has closed, and the ways it writes to a database that
 * another process may hold locked. One per corral process. Its parts are CoreParts' members
 * (the interface below merges into the class), set once by the constructor.
 */
export interface Core extends CoreParts {}
export class Core {
  closed = false;
  /** SIGTERM to SIGKILL; shorter during a shutdown, which has a deadline. */
  graceMs: number;
  /** Cleanups under way in this process, by agent. */
  readonly inFlight = new Map<AgentId, Promise<void>>();
  /**
   * Agents this process launched whose end it has not yet seen on record: only their exits,
   * seen after close, go to the journal. (Kept for live agents only, so it never grows.)
   */
  readonly unended = new Set<AgentId>();
  /** Set once the database file was deleted or replaced underneath: no more work is taken. */
  lostStore: { readonly error: CorralError; readonly rescue: string | null } | null = null;

  constructor(parts: CoreParts) {
    Object.assign(this, parts);
    this.graceMs = parts.config.graceMs;
  }

  /**
   * Runs a background round, which runs again later: a failure (a write the database refused
   * in the middle of it, when another process took the lock) is logged, never left unhandled,
   * which would end the process.
   */
  inBackground(what: string, round: () => Promise<unknown>): void {
    round().catch((cause: unknown) => {
      const level = isUnwritable(cause) ? "warn" : "error";
      this.logger[level]({ err: describeUnknown(cause) }, `${what} failed; it runs again later`);
    });
  }

  /**
   * A write that must happen, whatever it waits for: retried with the event loop free while
   * the database refuses it. Given up only when this corral closes; the claim it held is then
   * taken over by the next corral (see reconcile).
   */
  async persist<T>(write: () => T): Promise<T> {
    return unwrap(await this.store.writeSoon(write, Number.POSITIVE_INFINITY, () => this.closed));
  }

  /** A write a caller waits for: at most CALL_WRITE_WAIT_MS, then DB_BUSY. */
  writeForCall<T>(write: () => T): Promise<Result<T>> {
    return this.store.writeSoon(write, Date.now() + CALL_WRITE_WAIT_MS, () => this.closed);
  }

  /** Resolves true once the database takes writes, false when this corral closes first. */
  async whenWritable(): Promise<boolean> {
    while (!this.closed) {
      if (this.store.writableNow()) return true;
      await sleep(WRITABLE_POLL_MS);
    }
    return false;
  }

  /** A new cleanup claim, naming this process: a claim whose process died is taken over. */
  newClaim(): CleanupClaim {
    return newCleanupClaim(this.owner);
  }

  /**
   * Removes what agents of this state dir that are no longer live left behind (empty cgroups).
   * The rows are read after the runners list what they hold: a deploy inserts its row before
   * it places the agent, so what was placed just now always finds its agent live.
   */
  removeStaleCgroups(): string[] {
    return this.runners.removeLeftovers(() => this.store.agents.liveIds());
  }

  /**
   * The runner an agent was started by and its handle, read back from the row. Every runner
   * is there for the agents on record, even one that cannot start agents here (tmux missing).
   */
  handleOf(agent: AgentRecord): { readonly runner: Runner; readonly handle: AgentHandle } {
    const runner = this.runners.get(agent.runner);
    return { runner, handle: handleOf(runner, agent) };
  }

  /** The line parser of the agent's backend, when its CLI has a structured stream. */
  parserOf(agent: AgentRecord): ((line: string) => StreamEvent[]) | null {
    return lineParser(this.backends.get(agent.backend));
  }

  /**
   * Whether the database file is still the one this process writes. Once it was deleted or
   * replaced, every write would go where nobody can see it: this corral stops taking work,
   * saves a copy of what it holds, and says how to put it back. Kills still stop processes.
   */
  usable(): Result<void> {
    if (this.lostStore === null && !this.closed) {
      const why = this.store.lost();
      if (why !== null) {
        const rescue = `${this.store.path}.rescued-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        const saved = this.rescueStore(rescue);
        const message =
          `the database ${why} while this corral was running, so it takes no more work (nothing is written where nobody can see it)` +
          (saved ? `; what it held is saved in ${rescue}: stop corral, move that file to ${this.store.path}, and start it again` : "; its records could not be saved");
        this.lostStore = { error: { code: "STORE_LOST", message }, rescue: saved ? rescue : null };
        this.logger.error({ why, rescue: saved ? rescue : null }, "the database file is gone: no more work is taken");
      }
    }
    return this.lostStore === null ? ok(undefined) : { ok: false, error: this.lostStore.error };
  }

  /** A copy of the open database at `path` (replacing an earlier copy); false when it could not be made. */
  rescueStore(path: string): boolean {
    const partial = `${path}.partial`;
    try {
      rmSync(partial, { force: true });
      this.store.copyTo(partial);
      chmodSync(partial, 0o600);
      renameSync(partial, path);
      return true;
    } catch (cause) {
      this.logger.error({ err: describeUnknown(cause), path }, "could not save a copy of the database");
      return false;
    }
  }
}
