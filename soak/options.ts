import { parseArgs } from "node:util";
import { z } from "zod";

/** What a soak run is told on its command line; every value bounded, so a typo fails at once. */
export const SoakOptions = z.strictObject({
  minutes: z.coerce.number().positive().max(24 * 60).default(30).describe("how long agents are churned, warm-up included"),
  concurrency: z.coerce.number().int().positive().max(64).default(8).describe("agents at once, and corral's maxConcurrentAgents"),
  every: z.coerce.number().positive().max(600).default(10).describe("seconds between samples"),
  floodMib: z.coerce.number().positive().max(64).default(2).describe("MiB a flooding agent writes to stdout"),
});
export type SoakOptions = z.infer<typeof SoakOptions>;

const USAGE = "usage: npm run soak -- [--minutes N] [--concurrency N] [--every SECONDS] [--flood-mib N]";

/** The options, or a sentence saying which one is wrong and how it is written. */
export function parseOptions(argv: readonly string[]): { ok: true; value: SoakOptions } | { ok: false; message: string } {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { minutes: { type: "string" }, concurrency: { type: "string" }, every: { type: "string" }, "flood-mib": { type: "string" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (cause) {
    return { ok: false, message: `${(cause as Error).message}\n${USAGE}` };
  }
  const { "flood-mib": floodMib, ...rest } = values;
  const parsed = SoakOptions.safeParse({ ...rest, floodMib });
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((issue) => `--${issue.path.join(".").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`);
  return { ok: false, message: `${problems.join("; ")}\n${USAGE}` };
}
