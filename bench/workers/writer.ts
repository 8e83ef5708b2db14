import { unwrap } from "../../src/domain/errors.js";
import { loadConfig } from "../../src/lifecycle/config-loader.js";
import { Corral } from "../../src/lifecycle/corral.js";
import { createLogger } from "../../src/lifecycle/logger.js";

/** argv: state dir, events to write, agent ids. Prints when its write loop began and ended. */
const [home, count, ...ids] = process.argv.slice(2);
const corral = unwrap(Corral.open(unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), createLogger("silent"), { watch: false }));
// Wait for the go signal on stdin so that every writer starts its loop together.
await new Promise((resolve) => process.stdin.once("data", resolve));
const start = performance.timeOrigin + performance.now();
let failures = 0;
for (let seq = 0; seq < Number(count); seq += 1) {
  const result = await corral.report(ids[seq % ids.length] as string, { kind: "progress", status: "bench", message: `${process.pid}:${seq}` });
  if (!result.ok) failures += 1;
}
const end = performance.timeOrigin + performance.now();
await corral.close();
process.stdout.write(`${JSON.stringify({ start, end, failures })}\n`);
