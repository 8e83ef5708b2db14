import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readStat } from "../src/supervisor/procfs.js";
import { CorralChild } from "./corral-child.js";
import { leftovers } from "./leftovers.js";
import { metrics as allMetrics, type Sample } from "./metrics.js";
import { parseOptions } from "./options.js";
import { look, TAG_NAME } from "./probe.js";
import { header, resultsDir, row, verdictTable, writeResults } from "./report.js";
import { judge } from "./verdict.js";
import { AGENTS_PER_TASK, Churn } from "./workload.js";

/**
 * `npm run soak -- --minutes N`: a real `corral serve`, driven over MCP, churning command
 * agents on both runners at its concurrency limit for N minutes, with gc and the reaper given
 * work; its process, state dir and the soak's processes sampled throughout; a verdict per
 * metric (flat after warm-up, or growing) and a check that nothing is left behind. Exits 0
 * only when every judged metric is flat and nothing was left.
 */
const options = parseOptions(process.argv.slice(2));
if (!options.ok) {
  process.stderr.write(`${options.message}\n`);
  process.exit(2);
}
const settings = options.value;
const { minutes, concurrency, every, floodMib } = settings;

const startedAt = new Date();
const root = mkdtempSync(join(tmpdir(), "corral-soak-"));
const home = join(root, "corral");
const tag = randomBytes(8).toString("hex");
const results = resultsDir(startedAt);
const logFd = openSync(join(results, "corral.log"), "a", 0o600);
for (const dir of ["home", "tmux"]) mkdirSync(join(root, dir), { mode: 0o700 });

// The user's own corral settings stay out: the soak's corral is configured here alone.
const inherited = Object.entries(process.env).filter(([name, value]) => value !== undefined && !name.startsWith("CORRAL_"));
const env: Record<string, string> = {
  ...(Object.fromEntries(inherited) as Record<string, string>),
  HOME: join(root, "home"),
  CLAUDE_CONFIG_DIR: join(root, "home", ".claude"),
  TMUX_TMPDIR: join(root, "tmux"),
  CORRAL_HOME: home,
  [TAG_NAME]: tag,
  CORRAL_LOG_LEVEL: "warn",
  CORRAL_MAX_CONCURRENT_AGENTS: String(concurrency),
  CORRAL_MAX_AGENTS_PER_TASK: String(AGENTS_PER_TASK),
  // gc deletes every archive at each round, and the reaper ends overtime agents within a second.
  CORRAL_RETENTION_DAYS: "0",
  CORRAL_GC_MS: "5000",
  CORRAL_REAP_MS: "1000",
  CORRAL_CLEANUP_RETRY_MS: "5000",
};

const metrics = allMetrics(concurrency);
const samples: Sample[] = [];
const say = (text: string): boolean => process.stderr.write(`${text}\n`);
/** What the run has started, for the sampler, the interrupt and the end to reach. */
const live: { corral: CorralChild | null; churn: Churn | null } = { corral: null, churn: null };
const stop = new AbortController();
let interrupted = false;

process.on("SIGINT", () => {
  if (interrupted) return;
  interrupted = true;
  say("soak: interrupted; stopping corral and cleaning up");
  live.churn?.halt();
  stop.abort();
});

async function takeSample(t0: number, previous: Sample | undefined): Promise<Sample> {
  const child = live.corral as CorralChild;
  const found = look(child.pid, home, tag);
  const t = (performance.now() - t0) / 1000;
  const task = live.churn?.currentTask ?? null;
  let cleanupsPartial = 0;
  let pendingEnds = 0;
  if (task !== null) {
    const status = await child.call("get_real_task_status", { task_id: task });
    if (status.ok) {
      cleanupsPartial = (status.value.cleanup_health as { partial: number }).partial;
      pendingEnds = (status.value.database as { pending_ends: number }).pending_ends;
    }
  }
  // 100 clock ticks a second: ticks per second of wall time is % of one core.
  const cpuPct = previous === undefined || t === previous.t ? 0 : (found.cpuTicks - previous.cpuTicks) / (t - previous.t);
  return { ...found, t, lifecycles: live.churn?.tally.lifecycles ?? 0, inFlight: live.churn?.tally.inFlight ?? 0, cpuPct, cleanupsPartial, pendingEnds };
}

async function soak(): Promise<{ seconds: number; atRest: Sample | null }> {
  const corral = await CorralChild.start({ env, stderrFd: logFd });
  live.corral = corral;
  say(`soak: corral serve pid ${corral.pid}, state dir ${home}, ${concurrency} agents at once, ${minutes} min, a sample every ${every} s`);
  say(`soak: results in ${results}`);
  const churn = new Churn(corral, concurrency, Math.round(floodMib * 2 ** 20));
  live.churn = churn;
  const t0 = performance.now();
  say(header(metrics));
  samples.push(await takeSample(t0, undefined));
  say(row(metrics, samples.at(-1) as Sample));
  churn.start();
  const end = t0 + minutes * 60_000;
  while (!stop.signal.aborted && !churn.failed && performance.now() < end) {
    const next = t0 + samples.length * every * 1000;
    try {
      await sleep(Math.max(0, Math.min(next, end) - performance.now()), undefined, { signal: stop.signal });
    } catch (cause) {
      if (!stop.signal.aborted) throw cause;
      break;
    }
    samples.push(await takeSample(t0, samples.at(-1)));
    say(row(metrics, samples.at(-1) as Sample));
  }
  const seconds = (performance.now() - t0) / 1000;
  if (interrupted) return { seconds, atRest: null };
  await churn.drain();
  // Ended agents' cleanups and the next gc round settle before the look at rest.
  await sleep(6000);
  const atRest = await takeSample(t0, samples.at(-1));
  return { seconds, atRest };
}

async function finish(): Promise<number> {
  let run: { seconds: number; atRest: Sample | null } = { seconds: 0, atRest: null };
  const problems: string[] = [];
  try {
    run = await soak();
  } catch (cause) {
    problems.push(`the soak failed: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
  }
  const corralPid = live.corral?.pid ?? null;
  await live.corral?.close();
  for (let i = 0; corralPid !== null && i < 200 && readStat(corralPid) !== null && readStat(corralPid)?.state !== "Z"; i += 1) await sleep(50);
  if (corralPid !== null && readStat(corralPid) !== null && readStat(corralPid)?.state !== "Z") problems.push(`corral serve (pid ${corralPid}) still running 10 s after its stdin closed`);
  problems.push(...(await leftovers(root, home, tag)));
  closeSync(logFd);
  rmSync(root, { recursive: true, force: true });

  const tally = live.churn?.tally;
  const verdicts = metrics.map((m) => judge(m, samples));
  const rate = tally === undefined || run.seconds === 0 ? 0 : tally.lifecycles / run.seconds;
  process.stdout.write(`\n${header(metrics)}\n${samples.map((s) => row(metrics, s)).join("\n")}\n`);
  if (run.atRest !== null) process.stdout.write(`${row(metrics, run.atRest)}   ← at rest, every agent ended and cleaned\n`);
  process.stdout.write(`\n${verdictTable(metrics, verdicts)}\n`);
  if (tally !== undefined) {
    process.stdout.write(
      `\n${tally.lifecycles} lifecycles in ${run.seconds.toFixed(0)} s with ${concurrency} at once: ${rate.toFixed(2)}/s ` +
        `(30 min ≈ ${Math.round(rate * 1800)}; 10,000 in ≈ ${rate === 0 ? "∞" : Math.ceil(10_000 / rate / 60)} min); ` +
        `${tally.refusedAtLimit} deploys refused at the limit and retried\n`,
    );
    process.stdout.write(`ends by kind, runner and status: ${Object.entries(tally.ends).sort().map(([k, n]) => `${k} ${n}`).join(", ")}\n`);
    if (tally.unexpected.count > 0) problems.push(`${tally.unexpected.count} agents ended unexpectedly: ${tally.unexpected.examples.join("; ")}`);
    if (tally.errors.count > 0) problems.push(`${tally.errors.count} tool calls failed: ${tally.errors.examples.join("; ")}`);
  }
  if (run.atRest !== null) {
    const rest = run.atRest;
    if (rest.processes + rest.tmuxServers + rest.zombies + rest.cgroups + rest.cleanupsPartial + rest.pendingEnds > 0) {
      problems.push(`at rest, with every agent ended: ${rest.processes} processes, ${rest.tmuxServers} tmux servers, ${rest.zombies} zombies, ${rest.cgroups} cgroups, ${rest.cleanupsPartial} partial cleanups, ${rest.pendingEnds} journal entries`);
    }
  }
  const growing = verdicts.filter((v) => v.verdict === "GROWING").map((v) => v.label);
  writeResults(results, `corral soak, ${startedAt.toISOString()}, ${minutes} min, ${concurrency} at once`, metrics, verdicts, samples, {
    startedAt: startedAt.toISOString(),
    options: settings,
    seconds: run.seconds,
    ratePerSecond: rate,
    tally,
    atRest: run.atRest,
    problems,
  });
  process.stdout.write(`\nchart: ${join(results, "chart.svg")}\nsamples: ${join(results, "samples.json")}\ncorral's log: ${join(results, "corral.log")}\n`);
  // An interrupted corral leaves the agents deployed with a lifetime of their own running, for
  // the next corral to adopt: what the soak then removes is no failure of corral's.
  for (const problem of problems) process.stdout.write(`${interrupted ? "removed after the interrupt" : "LEFT BEHIND OR FAILED"}: ${problem}\n`);
  const verdict = interrupted ? "INTERRUPTED" : growing.length > 0 || problems.length > 0 ? `FAIL${growing.length > 0 ? ` (growing: ${growing.join(", ")})` : ""}` : "OK: flat after warm-up, nothing left behind";
  process.stdout.write(`\nsoak: ${verdict}\n`);
  return interrupted ? 130 : verdict.startsWith("OK") ? 0 : 1;
}

process.exitCode = await finish();
