import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chart } from "./chart.js";
import type { Metric, Sample } from "./metrics.js";
import type { MetricVerdict } from "./verdict.js";

/** The soak's words and files: a line per sample, the table and verdicts at the end, the chart and the JSON. */

const T_WIDTH = 6;
const width = (metric: Metric): number => Math.max(metric.label.length, 7);

export function header(metrics: readonly Metric[]): string {
  return `${"t s".padStart(T_WIDTH)}  ${metrics.map((m) => m.label.padStart(width(m))).join("  ")}`;
}

export function row(metrics: readonly Metric[], sample: Sample): string {
  return `${String(Math.round(sample.t)).padStart(T_WIDTH)}  ${metrics.map((m) => m.format(sample[m.key] as number).padStart(width(m))).join("  ")}`;
}

export function verdictTable(metrics: readonly Metric[], verdicts: readonly MetricVerdict[]): string {
  const judged = verdicts.map((v, i) => ({ v, m: metrics[i] as Metric })).filter(({ v }) => v.verdict !== "");
  const labelWidth = Math.max(...judged.map(({ v }) => v.label.length));
  return judged
    .map(({ v, m }) => `${v.label.padEnd(labelWidth)}  middle ${m.format(v.middle).padStart(8)}  last ${m.format(v.last).padStart(8)}  ${v.verdict.padEnd(9)}  ${v.note}`)
    .join("\n");
}

/** A new dir under soak/results named for the moment the run started. */
export function resultsDir(startedAt: Date): string {
  const dir = join(import.meta.dirname, "..", "..", "soak", "results", `soak-${startedAt.toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function writeResults(dir: string, title: string, metrics: readonly Metric[], verdicts: readonly MetricVerdict[], samples: readonly Sample[], summary: Record<string, unknown>): void {
  writeFileSync(join(dir, "samples.json"), `${JSON.stringify({ ...summary, verdicts, samples }, null, 2)}\n`);
  writeFileSync(join(dir, "chart.svg"), chart(title, metrics, verdicts, samples));
}
