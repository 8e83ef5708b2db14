import type { Command } from "commander";
import { GcView } from "../../lifecycle/reply-views.js";
import { describeGc } from "../gc-report.js";
import { printJson } from "../json-output.js";
import { withCorral } from "../session.js";

export function registerGc(program: Command): void {
  program
    .command("gc")
    .description("delete expired archives and stale temp files, and keep the disk budgets; prints what it did")
    .option("--dry-run", "only say what would be deleted")
    .option("--json", "print the report as JSON")
    .action((options: { dryRun?: boolean; json?: boolean }) =>
      withCorral((corral) => {
        const report = corral.gc(options.dryRun === true);
        const health = corral.cleanupHealth();
        if (options.json === true) printJson(GcView, { ...report, cleanupHealth: health });
        else process.stdout.write(describeGc(report, health));
      }, options),
    );
}
