import type { Command } from "commander";
import { StatsView } from "../../lifecycle/reply-views.js";
import { formatBytes } from "../gc-report.js";
import { printJson } from "../json-output.js";
import { paint, table } from "../format.js";
import { withCorral } from "../session.js";

export function registerStats(program: Command): void {
  program
    .command("stats")
    .description("what corral holds right now: each running agent's processes, memory, CPU, descriptors and log; disk per task; cleanup health")
    .option("--json", "print the figures as JSON")
    .action((options: { json?: boolean }) =>
      withCorral((corral) => {
        const stats = corral.stats();
        if (options.json === true) {
          printJson(StatsView, stats);
          return;
        }
        const header = ["AGENT", "PROCESSES", "RSS", "CPU", "FDS", "LOG"].map((h) => paint(h, "bold"));
        const kept = (a: (typeof stats.agents)[number], own: string, theirs: string): string =>
          a.runner.processes === 0 ? own : `${own} (+${theirs} ${a.runner.kind})`;
        const rows = stats.agents.map((a) => [
          a.agentId,
          kept(a, String(a.processes), String(a.runner.processes)),
          kept(a, `${a.residentMb.toFixed(1)} MiB`, a.runner.residentMb.toFixed(1)),
          `${a.cpuSeconds.toFixed(1)} s`,
          String(a.openFiles),
          formatBytes(a.logBytes),
        ]);
        const lines = [stats.agents.length === 0 ? "no agents running" : table([header, ...rows]), ""];
        lines.push(`disk: ${formatBytes(stats.disk.totalBytes)} of logs and archives in ${Object.keys(stats.disk.tasks).length} tasks`);
        for (const [task, bytes] of Object.entries(stats.disk.tasks)) lines.push(`  ${task}  ${formatBytes(bytes)}`);
        const h = stats.cleanupHealth;
        const rate = h.successRate === null ? "-" : `${(h.successRate * 100).toFixed(1)} %`;
        lines.push(`cleanups: ${h.done} done, ${h.partial} partial, ${h.running} running; success ${rate}; p50 ${h.durationMs.p50 === null ? "-" : `${Math.round(h.durationMs.p50)} ms`}, p95 ${h.durationMs.p95 === null ? "-" : `${Math.round(h.durationMs.p95)} ms`}`);
        for (const warning of h.warnings) lines.push(paint(`warning: ${warning}`, "yellow"));
        process.stdout.write(`${lines.join("\n")}\n`);
      }, options),
    );
}
