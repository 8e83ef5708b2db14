import { setTimeout as sleep } from "node:timers/promises";
import { discover, treeOf, type AgentScope, type DiscoveryMethod } from "./discover.js";
import { isAlive, sameProcess, signalProcess, statOf, type ProcessIdentity } from "./identity.js";

export interface SignalledProcess extends ProcessIdentity {
  readonly signals: NodeJS.Signals[];
}

export interface TerminationReport {
  readonly method: DiscoveryMethod;
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
 * SIGTERM to every process of the agent, poll /proc until all are gone or the grace period
 * ends, SIGKILL what is left, and verify. With a live subreaper root (tini) the root is first
 * stopped: stopped, it cannot exit, so every orphan keeps being reparented into its tree and
 * the whole agent is found by walking that tree alone, whatever else runs on the machine.
 * Once the tree is empty the root is continued and exits with its child's real status.
 */
export async function terminate(scope: AgentScope, options: TerminateOptions): Promise<TerminationReport> {
  const started = performance.now();
  const held = scope.subreaper && signalProcess(scope.root, "SIGSTOP") === "sent";
  const method: DiscoveryMethod = held ? "tree" : "sweep";
  const known = new Map<string, ProcessIdentity>();
  const signals = new Map<string, NodeJS.Signals[]>();
  const isHeldRoot = (p: ProcessIdentity): boolean => held && sameProcess(p, scope.root);

  const send = (p: ProcessIdentity, signal: NodeJS.Signals): void => {
    if (signalProcess(p, signal) !== "sent") return;
    const sent = signals.get(key(p));
    if (sent === undefined) signals.set(key(p), [signal]);
    else if (!sent.includes(signal)) sent.push(signal);
  };
  const find = (): ProcessIdentity[] => (held ? treeOf(scope.root) : discover(scope).processes);
  /** Adds what is newly found, signals it, and returns the agent's processes still alive. */
  const refresh = (signal: NodeJS.Signals, rescan: boolean): ProcessIdentity[] => {
    if (rescan) {
      for (const p of find()) {
        if (isHeldRoot(p) || known.has(key(p))) continue;
        known.set(key(p), p);
        send(p, signal);
      }
    }
    return [...known.values()].filter(isAlive);
  };

  refresh("SIGTERM", true);
  const deadline = started + options.graceMs;
  let delay = 1;
  let live = [...known.values()].filter(isAlive);
  while (performance.now() < deadline) {
    // A tree walk is cheap; a sweep of /proc is not, so it runs only to confirm an empty set.
    live = refresh("SIGTERM", held || live.length === 0);
    if (live.length === 0) break;
    await sleep(Math.min(delay, Math.max(0, deadline - performance.now())));
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
  live = refresh("SIGTERM", true);

  const escalated = live.length > 0;
  for (let round = 0; round < KILL_ROUNDS && live.length > 0; round += 1) {
    for (const p of live) send(p, "SIGKILL");
    await sleep(Math.min(1 + round, 10));
    live = refresh("SIGKILL", true);
  }

  let survivors = live;
  if (held) {
    survivors = [...survivors, ...(await releaseRoot(scope.root, send))];
  }
  const signalled = [...known.values(), scope.root]
    .filter((p) => signals.has(key(p)))
    .map((p) => ({ ...p, signals: signals.get(key(p)) ?? [] }));
  return { method, signalled, survivors, escalated, durationMs: performance.now() - started };
}

/** Lets the stopped subreaper run again so it reaps its child and exits; kills it if it does not. */
async function releaseRoot(
  root: ProcessIdentity,
  send: (p: ProcessIdentity, signal: NodeJS.Signals) => void,
): Promise<ProcessIdentity[]> {
  send(root, "SIGCONT");
  const deadline = performance.now() + ROOT_EXIT_WAIT_MS;
  let delay = 1;
  while (statOf(root) !== null && performance.now() < deadline) {
    await sleep(delay);
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
  if (statOf(root) !== null) {
    send(root, "SIGKILL");
    await sleep(10);
  }
  return statOf(root) === null ? [] : [root];
}
