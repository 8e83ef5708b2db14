import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { childPids, readStat } from "../src/supervisor/procfs.js";

/**
 * What every bench case shares: timing and its summary, the scratch dir and the corrals in it,
 * a process's resources after a full collection, and the report (the printed table and the
 * JSON under bench/results/). Figures, not assertions: each row shows its target and whether
 * it was met.
 */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p95: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { n: sorted.length, median: at(0.5), p95: at(0.95), p99: at(0.99), min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN };
}

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

/** A summary as most rows print it. */
export const ms = (s: Summary): string => `median ${round(s.median)} ms (p95 ${round(s.p95)}, n=${s.n})`;

/** How long `fn` took, in ms, with what it returned. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ readonly value: T; readonly ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** The same for a synchronous `fn`, which no await may lengthen. */
export function timedSync<T>(fn: () => T): { readonly value: T; readonly ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

/** Runs `sample` `count` times, one after another; each run returns the ms it measured. */
export async function repeat(count: number, sample: (i: number) => Promise<number>): Promise<Summary> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) times.push(await sample(i));
  return summarize(times);
}

export interface Resources {
  readonly fds: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
  readonly heapTotalMiB: number;
  readonly zombies: number;
}

/** Descriptors, RSS after a full collection (the bench runs with --expose-gc), zombie children. */
export async function resources(): Promise<Resources> {
  await sleep(100);
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const mib = (bytes: number): number => bytes / 2 ** 20;
  const zombies = childPids(process.pid).filter((pid) => readStat(pid)?.state === "Z").length;
  return { fds: readdirSync("/proc/self/fd").length, rssMiB: mib(memory.rss), heapMiB: mib(memory.heapUsed), heapTotalMiB: mib(memory.heapTotal), zombies };
}

interface Row {
  readonly name: string;
  readonly figure: string;
  readonly target: string;
  readonly met: boolean | null;
}

/** One run of the bench: its scratch dir, and the rows and figures its cases record. */
export class Bench {
  readonly scratch = mkdtempSync(join(tmpdir(), "corral-bench-"));
  readonly rows: Row[] = [];
  readonly figures: Record<string, unknown> = {};

  /** A row of the table; `data` is its figure in the JSON report, under the same name. */
  record(name: string, figure: string, target: string, met: boolean | null, data: unknown): void {
    this.rows.push({ name, figure, target, met });
    this.figures[name] = data;
    process.stderr.write(`  ${name}: ${figure}\n`);
  }

  /** A fresh state dir under the scratch dir. */
  home(prefix: string): string {
    return mkdtempSync(join(this.scratch, prefix));
  }

  openCorral(overrides: Partial<Config> = {}): Corral {
    const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: this.home("state-") })), ...overrides };
    return unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
  }

  /** A corral of its own state dir for `fn`, closed and removed after. */
  async withCorral<T>(overrides: Partial<Config>, fn: (c: Corral) => Promise<T>): Promise<T> {
    const corral = this.openCorral(overrides);
    try {
      return await fn(corral);
    } finally {
      await corral.close();
      rmSync(corral.config.home, { recursive: true, force: true });
    }
  }
}

export type BenchCase = (bench: Bench) => Promise<void>;

/** `npm run bench -- status gc` runs those cases alone; no names runs every one, in order. */
export async function runBench(cases: Readonly<Record<string, BenchCase>>, only: readonly string[]): Promise<void> {
  const unknown = only.filter((name) => !(name in cases));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench ${unknown.join(", ")}; the benches are ${Object.keys(cases).join(", ")}\n`);
    process.exit(1);
  }
  process.stderr.write(`corral bench on ${cpus().length} cores, node ${process.version}\n`);
  const bench = new Bench();
  try {
    for (const [name, run] of Object.entries(cases)) if (only.length === 0 || only.includes(name)) await run(bench);
  } finally {
    rmSync(bench.scratch, { recursive: true, force: true });
  }
  printTable(bench.rows);
  writeReport(bench);
}

function printTable(rows: readonly Row[]): void {
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write("\n");
  for (const row of rows) {
    const verdict = row.met === null ? "" : row.met ? "  ✓" : "  ✗ MISSED";
    process.stdout.write(`${row.name.padEnd(width)}  ${row.figure}   [target: ${row.target}]${verdict}\n`);
  }
}

/** bench/results/latest.json and a timestamped copy, so that runs can be compared. */
function writeReport(bench: Bench): void {
  const dir = join(import.meta.dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const json = JSON.stringify({ at: new Date().toISOString(), node: process.version, cores: cpus().length, rows: bench.rows, figures: bench.figures }, null, 2);
  writeFileSync(join(dir, `bench-${stamp}.json`), json);
  writeFileSync(join(dir, "latest.json"), json);
  process.stdout.write(`\nJSON report: bench/results/bench-${stamp}.json\n`);
}
