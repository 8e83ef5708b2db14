import { setTimeout as sleep } from "node:timers/promises";
import { killCgroup } from "./cgroup.js";
import { blindSpots, discover, treeOf, type AgentScope, type DiscoveryMethod } from "./discover.js";
import { isAlive, sameProcess, signalProcess, statOf, type ProcessIdentity } from "./identity.js";

export interface SignalledProcess extends ProcessIdentity {
  readonly signals: NodeJS.Signals[];
}

export interface TerminationReport {
  /** How the agent's processes were found, and so what the survivors count can vouch for. */
  readonly method: DiscoveryMethod;
  /** Escapers the method cannot see (see blindSpots); empty when it sees every kind. */
  readonly blindSpots: string[];
  /** Every process that was sent a signal, with the signals it got. */
  readonly signalled: SignalledProcess[];
  /** Processes still alive at the end; the goal is none. */
  readonly survivors: ProcessIdentity[];
  /** Whether the grace period ran out and SIGKILL was needed. */
  readonly escalated: boolean;
  readonly durationMs: number;
}

export interface TerminateOptions {
  readonly graceMs: number;
}

const key = (p: ProcessIdentity): string => `${p.pid}:${p.startTime}`;
const MAX_POLL_MS = 25;
const KILL_ROUNDS = 40;
const ROOT_EXIT_WAIT_MS = 1000;

/**
 * SIGTERM to every process of the agent, poll until all are gone or the grace period ends,
 * SIGKILL what is left, and verify. A stopped process is continued after its SIGTERM, so that
 * it can act on it rather than sit out the whole grace period.
 *
 * With a cgroup the members are read from it and the SIGKILL is cgroup.kill, which reaches
 * every process in it, seen or not. Without one, but with a live subreaper root (tini), the
 * root is first stopped: stopped, it cannot exit, so every orphan keeps being reparented into
 * its tree and the whole agent is found by walking that tree alone, whatever else runs on the
 * machine. Once the tree is empty the root is continued and exits with its child's real status.
 */
export async function terminate(scope: AgentScope, options: TerminateOptions): Promise<TerminationReport> {
  const started = performance.now();
  const run = new Termination(scope);
  const held = scope.cgroup === null && scope.subreaper && run.hold();

  let live = run.refresh("SIGTERM", true);
  const deadline = started + options.graceMs;
  // A tree walk or a read of cgroup.procs is cheap; a sweep of /proc is not, so it runs only
  // to confirm an empty set.
  const cheap = held || scope.cgroup !== null;
  let delay = 1;
  while (live.length > 0 && performance.now() < deadline) {
    await sleep(Math.min(delay, Math.max(0, deadline - performance.now())));
    delay = Math.min(delay * 2, MAX_POLL_MS);
    live = run.refresh("SIGTERM", cheap);
    if (live.length === 0) live = run.refresh("SIGTERM", true);
  }

  const escalated = live.length > 0;
  for (let round = 0; round < KILL_ROUNDS && live.length > 0; round += 1) {
    for (const p of live) run.send(p, "SIGKILL");
    if (scope.cgroup !== null) killCgroup(scope.cgroup);
    await sleep(Math.min(1 + round, 10));
    live = run.refresh("SIGKILL", true);
  }
  if (held) await run.releaseRoot();
  const method = scope.cgroup !== null ? "cgroup" : held ? "tree" : "sweep";
  return {
    method,
    blindSpots: blindSpots(method),
    signalled: run.signalled(),
    survivors: run.survivors(),
    escalated,
    durationMs: performance.now() - started,
  };
}

class Termination {
  private readonly known = new Map<string, ProcessIdentity>();
  private readonly signals = new Map<string, NodeJS.Signals[]>();
  private held = false;

  constructor(private readonly scope: AgentScope) {}

  /** Stops the subreaper root; true when it was alive to be stopped. */
  hold(): boolean {
    this.held = this.send(this.scope.root, "SIGSTOP");
    return this.held;
  }

  send(p: ProcessIdentity, signal: NodeJS.Signals): boolean {
    if (signalProcess(p, signal) !== "sent") return false;
    this.note(p, signal);
    if (signal === "SIGTERM") this.continueIfStopped(p);
    return true;
  }

  /**
   * A stopped process keeps a SIGTERM pending until it is continued: continue it, so that it
   * can act on it (its handler, or its death) within the grace period.
   */
  private continueIfStopped(p: ProcessIdentity): void {
    if (statOf(p)?.state === "T" && signalProcess(p, "SIGCONT") === "sent") this.note(p, "SIGCONT");
  }

  private note(p: ProcessIdentity, signal: NodeJS.Signals): void {
    const sent = this.signals.get(key(p));
    if (sent === undefined) this.signals.set(key(p), [signal]);
    else if (!sent.includes(signal)) sent.push(signal);
  }

  private isHeldRoot(p: ProcessIdentity): boolean {
    return this.held && sameProcess(p, this.scope.root);
  }

  /**
   * A tini root in a cgroup gets no SIGTERM of its own: it would pass it on to its child's
   * group, which corral signals itself, and the agent would get it twice. It exits with its
   * child; cgroup.kill takes it if it does not. A stopped one is continued, so it can.
   */
  private isQuietRoot(p: ProcessIdentity): boolean {
    return this.scope.cgroup !== null && this.scope.subreaper && sameProcess(p, this.scope.root);
  }

  /** Signals what is newly found (when `rescan`) and returns the agent's processes still alive. */
  refresh(signal: NodeJS.Signals, rescan: boolean): ProcessIdentity[] {
    if (rescan) {
      const found = this.held ? treeOf(this.scope.root) : discover(this.scope).processes;
      for (const p of found) {
        if (this.isHeldRoot(p) || this.known.has(key(p))) continue;
        this.known.set(key(p), p);
        if (signal !== "SIGTERM" || !this.isQuietRoot(p)) this.send(p, signal);
        else this.continueIfStopped(p);
      }
    }
    return [...this.known.values()].filter(isAlive);
  }

  /**
   * Continues the stopped subreaper so that it reaps its child and exits. A root stopped
   * before it had started its child starts it now: whatever appears in its tree is killed
   * until the root exits, and a root that will not exit is stopped again, emptied and killed.
   */
  async releaseRoot(): Promise<void> {
    const root = this.scope.root;
    this.send(root, "SIGCONT");
    const deadline = performance.now() + ROOT_EXIT_WAIT_MS;
    let delay = 1;
    while (statOf(root) !== null && performance.now() < deadline) {
      this.killTreeBelowRoot();
      await sleep(delay);
      delay = Math.min(delay * 2, MAX_POLL_MS);
    }
    if (statOf(root) !== null) {
      this.send(root, "SIGSTOP");
      for (let round = 0; round < KILL_ROUNDS && this.killTreeBelowRoot() > 0; round += 1) await sleep(5);
      this.send(root, "SIGKILL");
    }
    for (let round = 0; round < KILL_ROUNDS && this.survivors().length > 0; round += 1) await sleep(5);
  }

  private killTreeBelowRoot(): number {
    const below = treeOf(this.scope.root).filter((p) => !sameProcess(p, this.scope.root));
    for (const p of below) {
      this.known.set(key(p), p);
      this.send(p, "SIGKILL");
    }
    return below.length;
  }

  private all(): ProcessIdentity[] {
    return this.held ? [...this.known.values(), this.scope.root] : [...this.known.values()];
  }

  survivors(): ProcessIdentity[] {
    return this.all().filter(isAlive);
  }

  signalled(): SignalledProcess[] {
    return this.all()
      .filter((p) => this.signals.has(key(p)))
      .map((p) => ({ ...p, signals: this.signals.get(key(p)) ?? [] }));
  }
}
