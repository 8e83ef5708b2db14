import type { Metric, Sample } from "./metrics.js";
import type { MetricVerdict } from "./verdict.js";

/**
 * The samples as one SVG: a small panel per metric, value over time, the warm-up third shaded
 * and the panel's title carrying its verdict. Plain SVG text, so it needs nothing to draw.
 */
const PANEL = { width: 320, height: 150, pad: { left: 56, right: 12, top: 24, bottom: 22 } };
const COLUMNS = 3;

const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const COLOURS: Readonly<Record<string, string>> = { OK: "#2a7d2a", GROWING: "#c0392b" };

function panel(metric: Metric, verdict: MetricVerdict, samples: readonly Sample[], x0: number, y0: number): string {
  const { width, height, pad } = PANEL;
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const ts = samples.map((s) => s.t);
  const vs = samples.map((s) => s[metric.key] as number);
  const tMax = Math.max(1, ...ts);
  const vMin = Math.min(0, ...vs);
  const vMax = Math.max(vMin + 1, ...vs);
  const x = (t: number): number => x0 + pad.left + (t / tMax) * plotW;
  const y = (v: number): number => y0 + pad.top + plotH - ((v - vMin) / (vMax - vMin)) * plotH;
  const warmUpEnd = samples[Math.floor(samples.length / 3)]?.t ?? 0;
  const points = samples.map((s, i) => `${x(s.t).toFixed(1)},${y(vs[i] as number).toFixed(1)}`).join(" ");
  const title = `${metric.label}${verdict.verdict === "" ? "" : ` — ${verdict.verdict}`}`;
  return [
    `<rect x="${x0 + pad.left}" y="${y0 + pad.top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#ccc"/>`,
    `<rect x="${x0 + pad.left}" y="${y0 + pad.top}" width="${(x(warmUpEnd) - x0 - pad.left).toFixed(1)}" height="${plotH}" fill="#eee"/>`,
    `<text x="${x0 + pad.left}" y="${y0 + 16}" font-size="13" fill="${COLOURS[verdict.verdict] ?? "#333"}">${escape(title)}</text>`,
    `<text x="${x0 + pad.left - 4}" y="${y0 + pad.top + 10}" font-size="10" text-anchor="end">${escape(metric.format(vMax))}</text>`,
    `<text x="${x0 + pad.left - 4}" y="${y0 + pad.top + plotH}" font-size="10" text-anchor="end">${escape(metric.format(vMin))}</text>`,
    `<text x="${x0 + pad.left}" y="${y0 + height - 6}" font-size="10">0 s</text>`,
    `<text x="${x0 + width - pad.right}" y="${y0 + height - 6}" font-size="10" text-anchor="end">${Math.round(tMax)} s</text>`,
    `<polyline points="${points}" fill="none" stroke="#1f5fa8" stroke-width="1.5"/>`,
  ].join("\n");
}

export function chart(title: string, metrics: readonly Metric[], verdicts: readonly MetricVerdict[], samples: readonly Sample[]): string {
  const rows = Math.ceil(metrics.length / COLUMNS);
  const width = PANEL.width * COLUMNS;
  const height = PANEL.height * rows + 30;
  const panels = metrics.map((metric, i) =>
    panel(metric, verdicts[i] as MetricVerdict, samples, (i % COLUMNS) * PANEL.width, 30 + Math.floor(i / COLUMNS) * PANEL.height),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="8" y="20" font-size="14">${escape(title)} (warm-up third shaded)</text>`,
    ...panels,
    "</svg>",
    "",
  ].join("\n");
}
