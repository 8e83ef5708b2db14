import type { GcReport } from "../lifecycle/gc.js";
import type { CleanupHealthView } from "../lifecycle/views.js";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${UNITS[unit]}`;
}

const ms = (value: number | null): string => (value === null ? "-" : `${Math.round(value)} ms`);

/** What `corral gc` prints for a person: what it did (or would do), the disk use left, and cleanup health. */
export function describeGc(report: GcReport, health: CleanupHealthView): string {
  const verb = report.dryRun ? "would delete" : "deleted";
  const reasons = new Map<string, number>();
  for (const archive of report.archivesDeleted) reasons.set(archive.reason, (reasons.get(archive.reason) ?? 0) + 1);
  const why = [...reasons].map(([reason, n]) => `${n} ${reason === "expired" ? "expired" : `over the ${reason}`}`).join(", ");
  const lines = [
    `${verb} ${report.archivesDeleted.length} archived logs${why === "" ? "" : ` (${why})`}, ${report.transcriptsDeleted.length} agent transcripts with them and ${report.tempRemoved.length} stale temp files: ${formatBytes(report.bytesFreed)}`,
    `logs and archives${report.dryRun ? " now" : " left"}: ${formatBytes(report.usage.totalBytes)} in ${Object.keys(report.usage.tasks).length} tasks`,
  ];
  for (const temp of report.tempRemoved) lines.push(`  ${verb} ${temp.path} (${formatBytes(temp.bytes)})`);
  for (const transcript of report.transcriptsDeleted) lines.push(`  ${verb} ${transcript.path} (${formatBytes(transcript.bytes)})`);
  const rate = health.successRate === null ? "-" : `${(health.successRate * 100).toFixed(1)} %`;
  lines.push(
    `cleanups: ${health.done} done, ${health.partial} partial, ${health.running} running; success ${rate}; ` +
      `duration p50 ${ms(health.durationMs.p50)}, p95 ${ms(health.durationMs.p95)}, max ${ms(health.durationMs.max)}`,
  );
  for (const warning of health.warnings) lines.push(`warning: ${warning}`);
  return `${lines.join("\n")}\n`;
}
