import type { Metric, Sample } from "./metrics.js";

/**
 * Whether a metric is flat after warm-up: the first third of the samples is the warm-up, and
 * the median of the last third is compared with the median of the middle third. Medians, so a
 * sample taken while a flood's log was at its largest does not decide.
 */
export type Verdict = "OK" | "GROWING" | "TOO SHORT" | "";

export interface MetricVerdict {
  readonly label: string;
  readonly middle: number;
  readonly last: number;
  readonly verdict: Verdict;
  readonly note: string;
}

/** The fewest samples that have a middle and a last third of two each. */
export const MIN_SAMPLES = 6;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The middle and last thirds of the samples (the first is the warm-up). */
export function thirds<T>(samples: readonly T[]): { middle: T[]; last: T[] } {
  const third = Math.floor(samples.length / 3);
  return { middle: samples.slice(third, samples.length - third), last: samples.slice(samples.length - third) };
}

/** Bytes added per lifecycle between the first and the last of `samples`; null when none ran. */
function perLifecycle(samples: readonly Sample[], key: keyof Sample): number | null {
  const first = samples[0];
  const final = samples.at(-1);
  if (first === undefined || final === undefined || final.lifecycles === first.lifecycles) return null;
  return ((final[key] as number) - (first[key] as number)) / (final.lifecycles - first.lifecycles);
}

/** Slack for the cost per lifecycle: a database file grows a page batch at a time, at checkpoints. */
const PER_LIFECYCLE_SLACK = { factor: 2, bytes: 1024 };

export function judge(metric: Metric, samples: readonly Sample[]): MetricVerdict {
  const { middle, last } = thirds(samples);
  const values = (list: readonly Sample[]): number[] => list.map((s) => s[metric.key] as number);
  const base = { label: metric.label, middle: median(values(middle)), last: median(values(last)) };
  if (metric.judge.kind === "info") return { ...base, verdict: "", note: "" };
  if (samples.length < MIN_SAMPLES) return { ...base, verdict: "TOO SHORT", note: `${samples.length} samples, ${MIN_SAMPLES} needed` };
  if (metric.judge.kind === "per-lifecycle") {
    // The middle window ends on the sample the last one starts from, so no lifecycle falls between.
    const before = perLifecycle(samples.slice(samples.indexOf(middle[0] as Sample), samples.indexOf(last[0] as Sample) + 1), metric.key);
    const after = perLifecycle(last, metric.key);
    if (before === null || after === null) return { ...base, verdict: "TOO SHORT", note: "no lifecycles in a third" };
    const kib = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KiB`;
    const growing = after > Math.max(before, 0) * PER_LIFECYCLE_SLACK.factor + PER_LIFECYCLE_SLACK.bytes;
    return { ...base, verdict: growing ? "GROWING" : "OK", note: `${kib(before)} → ${kib(after)} per lifecycle (every agent's row is kept)` };
  }
  const slack = Math.max(metric.judge.abs, metric.judge.rel * base.middle);
  const growth = base.last - base.middle;
  return { ...base, verdict: growth > slack ? "GROWING" : "OK", note: `${growth >= 0 ? "+" : ""}${metric.format(growth)} (slack ${metric.format(slack)})` };
}
