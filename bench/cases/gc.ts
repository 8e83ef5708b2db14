import Database from "better-sqlite3";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { unwrap } from "../../src/domain/errors.js";
import { insertAgents, MANY } from "../agents.js";
import { timedSync, type Bench } from "../harness.js";

/** gc over many archived agents, half of them past the retention. */
export async function benchGc(bench: Bench): Promise<void> {
  const count = 10_000;
  const data = await bench.withCorral({ ...MANY, retentionDays: 30 }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench gc" }));
    const ids = insertAgents(corral, task, count);
    const db = new Database(join(corral.config.home, "corral.db"));
    const archive = db.prepare("UPDATE agents SET status = 'completed', cleanup_status = 'done', slot_held = 0, archive_path = ?, ended_at = ? WHERE id = ?");
    const now = Date.now();
    db.transaction(() => {
      ids.forEach((id, i) => {
        const path = join(task.workspace, "archive", `${id}.log.gz`);
        writeFileSync(path, "x".repeat(100));
        // Half ended 60 days ago, past the 30-day retention.
        archive.run(path, now - (i % 2 === 0 ? 60 : 1) * 86_400_000, id);
      });
    })();
    db.close();
    const collected = timedSync(() => corral.gc());
    return { count, ms: collected.ms, deleted: collected.value.archivesDeleted.length };
  });
  bench.record(
    `gc over ${count.toLocaleString("en")} archived agents`,
    `${Math.round(data.ms)} ms, ${data.deleted.toLocaleString("en")} expired archives deleted`,
    "≤ 5 s",
    data.ms <= 5000 && data.deleted === count / 2,
    data,
  );
}
