import { spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId } from "../../src/domain/ids.js";
import { withStore } from "../../test/helpers/store.js";
import { SLEEPER } from "../agents.js";
import type { Bench } from "../harness.js";

/** Writer processes (bench/workers/writer.ts) reporting events at once into one state dir: all must be stored. */
export async function benchWriters(bench: Bench): Promise<void> {
  const writers = 8;
  const each = 2000;
  const data = await bench.withCorral({}, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench writers" }));
    const ids: AgentId[] = [];
    for (let i = 0; i < 4; i += 1) {
      ids.push(unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER })).id);
    }
    const script = join(import.meta.dirname, "..", "workers", "writer.js");
    const procs = Array.from({ length: writers }, () =>
      spawn(process.execPath, [script, corral.config.home, String(each), ...ids], { stdio: ["pipe", "pipe", "inherit"] }),
    );
    const outputs = procs.map(
      (p) =>
        new Promise<{ start: number; end: number; failures: number }>((resolve, reject) => {
          let text = "";
          p.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()));
          p.once("close", (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`writer exited ${code}`))));
        }),
    );
    await sleep(1500);
    for (const p of procs) p.stdin.end("go\n");
    const results = await Promise.all(outputs);
    // Each writer times its own loop: from the first start to the last end.
    const seconds = (Math.max(...results.map((r) => r.end)) - Math.min(...results.map((r) => r.start))) / 1000;
    const stored = withStore(corral.config.home, (store) => store.events.forTask(task.id, 0, 1_000_000).length);
    for (const id of ids) unwrap(await corral.kill(id));
    const failures = results.reduce((n, r) => n + r.failures, 0);
    return { writers, each, seconds, perSecond: (writers * each) / seconds, stored, lost: writers * each - stored, failures };
  });
  bench.record(
    `${writers} writer processes at once`,
    `${Math.round(data.perSecond).toLocaleString("en")} events/s, ${data.lost} lost`,
    "≥ 5,000 events/s, 0 lost",
    data.perSecond >= 5000 && data.lost === 0 && data.failures === 0,
    data,
  );
}
