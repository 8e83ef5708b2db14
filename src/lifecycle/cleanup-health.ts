import type { Store } from "../store/store.js";
import type { CleanupHealthView } from "./views.js";

/** How many step rows the figures look back over: recent enough to show a new problem. */
const RECENT_STEPS = 6_000;
/** A step that failed this often recently is raised as a warning, not buried. */
const REPEATED = 3;

const percentile = (sorted: readonly number[], q: number): number | null =>
  sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

/** Cleanup telemetry: success rate, duration percentiles, and steps that keep failing. */
export function cleanupHealth(store: Store): CleanupHealthView {
  const counts = store.cleanups.counts();
  const done = counts.done ?? 0;
  const partial = counts.partial ?? 0;
  const durations = store.cleanupSteps.recentDurations(RECENT_STEPS);
  const failingSteps = store.cleanupSteps.recentFailures(RECENT_STEPS);
  const warnings = Object.entries(failingSteps)
    .filter(([, n]) => n >= REPEATED)
    .map(([step, n]) => `cleanup step ${step} failed ${n} times recently`);
  if (partial > 0) warnings.push(`${partial} agents have a partial cleanup waiting for a retry`);
  return {
    finished: done + partial,
    done,
    partial,
    running: counts.running ?? 0,
    successRate: done + partial === 0 ? null : done / (done + partial),
    durationMs: { p50: percentile(durations, 0.5), p95: percentile(durations, 0.95), max: durations.at(-1) ?? null },
    failingSteps,
    warnings,
  };
}
