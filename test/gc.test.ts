import { execFile } from "node:child_process";
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { CORRAL_BIN } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";

const run = promisify(execFile);
let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

/** An agent that wrote `bytes` of incompressible output and ended `daysAgo` days ago. */
async function archivedAgent(c: Corral, taskId: string, bytes: number, daysAgo: number) {
  const agent = unwrap(await c.deploy({ taskId, agentType: "w", prompt: "p", command: ["bash", "-c", `head -c ${bytes} /dev/urandom`] }));
  await c.whenCleaned(agent.id);
  const db = new Database(join(c.config.home, "corral.db"));
  db.prepare("UPDATE agents SET ended_at = ? WHERE id = ?").run(Date.now() - daysAgo * 86_400_000, agent.id);
  db.close();
  return agent;
}

describe("gc", () => {
  it("deletes expired archives, then the oldest past a task's budget, and says what it did", async () => {
    corral = openCorral({ retentionDays: 7, taskDiskBudgetMb: 0.05 });
    const old = unwrap(corral.createTask({ description: "old" }));
    const expired = await archivedAgent(corral, old.id, 1000, 10);
    const recent = await archivedAgent(corral, old.id, 1000, 1);
    const full = unwrap(corral.createTask({ description: "full" }));
    const first = await archivedAgent(corral, full.id, 30_000, 3);
    const second = await archivedAgent(corral, full.id, 30_000, 2);

    const dry = corral.gc(true);
    expect(dry.archivesDeleted.map((a) => [a.agentId, a.reason])).toEqual([
      [expired.id, "expired"],
      [first.id, "task budget"],
    ]);
    expect(existsSync(corral.agent(expired.id)!.archivePath!)).toBe(true);

    const done = corral.gc();
    expect(done.archivesDeleted).toEqual(dry.archivesDeleted);
    expect(done.bytesFreed).toBeGreaterThan(30_000);
    expect(corral.agent(expired.id)?.archivePath).toBeNull();
    expect(unwrap(await corral.output(old.id, expired.id, {})).source).toBe("none");
    for (const kept of [recent, second]) expect(unwrap(await corral.output(kept.taskId, kept.id, {})).source).toBe("archive");
    expect(done.usage.tasks[full.id]).toBeLessThanOrEqual(0.05 * 1024 * 1024);
    expect(corral.gc().archivesDeleted).toEqual([]);
  });

  it("keeps the whole under the disk budget by deleting the oldest archives anywhere", async () => {
    corral = openCorral({ diskBudgetMb: 0.05 });
    const ids = [];
    for (let i = 0; i < 3; i += 1) {
      const task = unwrap(corral.createTask({ description: `t${i}` }));
      ids.push((await archivedAgent(corral, task.id, 30_000, 3 - i)).id);
    }
    const report = corral.gc();
    expect(report.archivesDeleted.map((a) => [a.agentId, a.reason])).toEqual([
      [ids[0], "disk budget"],
      [ids[1], "disk budget"],
    ]);
    expect(report.usage.totalBytes).toBeLessThanOrEqual(0.05 * 1024 * 1024);
  });

  it("removes stale temp files of no live agent, never a live agent's, and `corral gc` prints it", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "temp" }));
    const live = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] }));
    const stale = join(corral.workspaces.root, task.id, "agents", "ghost-000000-000000");
    mkdirSync(stale);
    writeFileSync(join(stale, "prompt.txt"), "left behind");
    const twoDaysAgo = (Date.now() - 2 * 86_400_000) / 1000;
    for (const path of [join(stale, "prompt.txt"), stale, live.agentDir]) utimesSync(path, twoDaysAgo, twoDaysAgo);

    const env = { ...process.env, CORRAL_HOME: corral.config.home };
    const dry = await run(process.execPath, [CORRAL_BIN, "gc", "--dry-run"], { env });
    expect(dry.stdout).toMatch(/^would delete 0 archived logs, 0 agent transcripts with them and 1 stale temp files: 11 B\n/);
    expect(dry.stdout).toContain(`would delete ${stale}`);
    expect(dry.stdout).toMatch(/^cleanups: 0 done, 0 partial, 0 running; success -; duration p50 -, p95 -, max -$/m);
    expect(existsSync(stale)).toBe(true);

    const real = JSON.parse((await run(process.execPath, [CORRAL_BIN, "gc", "--json"], { env })).stdout) as {
      temp_removed: { path: string }[];
      cleanup_health: { done: number };
    };
    expect(real.cleanup_health.done).toBe(0);
    expect(real.temp_removed.map((t) => t.path)).toEqual([stale]);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live.agentDir)).toBe(true);
  });
});
