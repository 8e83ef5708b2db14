import type { Look } from "./probe.js";

/** One sample: when, how much work had been done, and what the look found. */
export interface Sample extends Look {
  /** Seconds since the churn started. */
  readonly t: number;
  readonly lifecycles: number;
  readonly inFlight: number;
  /** corral's CPU use since the previous sample, in % of one core. */
  readonly cpuPct: number;
  /** Cleanups a step of which failed and waits to be retried, over the whole state dir. */
  readonly cleanupsPartial: number;
  /** Agents' ends kept in the journal because the database refused them. */
  readonly pendingEnds: number;
}

/**
 * How a metric is judged: `flat` must not grow from the middle third of the run to the last
 * by more than its slack; `per-lifecycle` is history kept by design (the database keeps every
 * agent's row), whose cost per lifecycle must not grow; `info` is shown, not judged.
 */
export type Judgement = { readonly kind: "flat"; readonly abs: number; readonly rel: number } | { readonly kind: "per-lifecycle" } | { readonly kind: "info" };

export interface Metric {
  readonly key: keyof Sample;
  /** Column heading and panel title. */
  readonly label: string;
  readonly judge: Judgement;
  readonly format: (value: number) => string;
}

const MIB = 2 ** 20;
const count = (v: number): string => String(Math.round(v));
const mib = (v: number): string => (v / MIB).toFixed(1);
const kibAsMib = (v: number): string => (v / 1024).toFixed(1);
const flat = (abs: number, rel: number): Judgement => ({ kind: "flat", abs, rel });

/** Every metric, in the order of the table and the chart. Slack in the metric's own unit. */
export function metrics(concurrency: number): readonly Metric[] {
  return [
    { key: "lifecycles", label: "lifecycles", judge: { kind: "info" }, format: count },
    { key: "inFlight", label: "in flight", judge: { kind: "info" }, format: count },
    { key: "cpuPct", label: "cpu %", judge: { kind: "info" }, format: count },
    { key: "fds", label: "fds", judge: flat(4, 0.1), format: count },
    { key: "rssKiB", label: "RSS MiB", judge: flat(8 * 1024, 0.1), format: kibAsMib },
    // Shown, not judged: PSS divides shared pages among their sharers, so it moves as other
    // node processes on the machine come and go (±20 MiB within a minute on a busy one).
    { key: "pssKiB", label: "PSS MiB", judge: { kind: "info" }, format: kibAsMib },
    { key: "threads", label: "threads", judge: flat(2, 0), format: count },
    { key: "dbBytes", label: "db MiB", judge: { kind: "per-lifecycle" }, format: mib },
    { key: "walBytes", label: "wal MiB", judge: flat(MIB, 0.25), format: mib },
    // Logs of agents in flight (floods among them) come and go with the moment of the sample.
    { key: "stateLessDbBytes", label: "state-db MiB", judge: flat(2 * concurrency * MIB, 0.25), format: mib },
    { key: "stateBytes", label: "state MiB", judge: { kind: "info" }, format: mib },
    // An agent in flight has a few processes (tini, sh, its children; tmux adds a server and a keeper).
    { key: "processes", label: "procs", judge: flat(3 * concurrency, 0), format: count },
    { key: "tmuxServers", label: "tmux", judge: flat(concurrency, 0), format: count },
    { key: "zombies", label: "zombies", judge: flat(2, 0), format: count },
    { key: "cgroups", label: "cgroups", judge: flat(concurrency, 0), format: count },
    { key: "cleanupsPartial", label: "partial", judge: flat(0, 0), format: count },
    { key: "pendingEnds", label: "journal", judge: flat(0, 0), format: count },
  ];
}
