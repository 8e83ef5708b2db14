import { execFile, execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { RUNNER_KINDS } from "../src/domain/config.js";
import { unwrap } from "../src/domain/errors.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { spareJournalDir } from "../src/lifecycle/pending-records.js";
import { isAlive } from "../src/supervisor/identity.js";
import { exited } from "./helpers/builders.js";
import { CORRAL_BIN, startCoordinator, type Coordinator } from "./helpers/mcp-client.js";

const run = promisify(execFile);
const root = (): string => process.env.CORRAL_TEST_ROOT as string;
const mounted: string[] = [];
const servers: Coordinator[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const dir of mounted.splice(0).reverse()) execFileSync("umount", [dir]);
});

/** Real filesystems need mount(8), which root has here; elsewhere these tests are skipped. */
const canMount = ((): boolean => {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(process.env.TMPDIR ?? "/tmp", "corral-mount-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe]);
    return true;
  } catch (cause) {
    return cause instanceof Error && false;
  } finally {
    execFileSync("rmdir", [probe]);
  }
})();

function open(home: string) {
  return Corral.open({ ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), minFreeMb: 0 }, createLogger("silent"), { watch: false });
}

describe.skipIf(!canMount)("on real filesystems", () => {
  it("a read-only state dir gets a clear error and nothing is overwritten", async () => {
    const home = mkdtempSync(join(root(), "ro-"));
    const first = unwrap(open(home));
    unwrap(first.createTask({ description: "before" }));
    await first.close();
    const bytes = readFileSync(join(home, "corral.db"));
    execFileSync("mount", ["--bind", home, home]);
    mounted.push(home);
    execFileSync("mount", ["-o", "remount,bind,ro", home]);

    const opened = open(home);
    expect(opened.ok).toBe(false);
    if (!opened.ok) {
      expect(opened.error.code).toBe("DB_UNAVAILABLE");
      expect(opened.error.message).toMatch(/read-only/);
    }
    const cli = await run(process.execPath, [CORRAL_BIN, "serve"], { env: { ...process.env, CORRAL_HOME: home } }).catch((e: { code: number; stderr: string }) => e);
    expect("code" in cli ? cli.code : 0).toBe(2);
    expect("stderr" in cli ? cli.stderr : "").toMatch(/^corral: DB_UNAVAILABLE: .*read-only/);
    expect(readFileSync(join(home, "corral.db")).equals(bytes)).toBe(true);
  });

  it("a disk that fills up marks the agent and never stops corral", async () => {
    const home = mkdtempSync(join(root(), "full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", home]);
    mounted.push(home);
    // No reserve: this is the case where the disk fills regardless, and the ballast must save the record.
    const server = await startCoordinator({ CORRAL_HOME: home, CORRAL_MIN_FREE_MB: "0", CORRAL_BALLAST_MB: "0.5", CORRAL_DISK_RESERVE_MB: "0" });
    servers.push(server);
    const { task_id } = await server.call<{ task_id: string }>("create_real_task", { description: "full disk" });
    const agent = await server.call<{ agent_id: string }>("deploy_headless_agent", {
      task_id,
      agent_type: "flood",
      prompt: "p",
      command: ["head", "-c", "10000000", "/dev/zero"],
    });
    await server.call("wait_for_agents", { task_id, timeout_s: 30 });
    const status = await server.call<{ agents: { status: string; validation: { warnings: string[] } | null; flags: string[] }[] }>("get_real_task_status", { task_id });
    const flooded = status.agents[0]!;
    expect(flooded.status).toBe("failed");
    for (let i = 0; i < 50 && flooded.validation === null; i += 1) await new Promise((r) => setTimeout(r, 100));
    const again = await server.call<{ agents: { validation: { warnings: string[] } | null }[] }>("get_real_task_status", { task_id });
    expect(again.agents[0]?.validation?.warnings.join("\n")).toMatch(/disk under the state dir was full/);
    // The ballast was given up so that the end could be recorded; corral still answers.
    expect(existsSync(join(home, "ballast"))).toBe(false);
    expect((await server.call<{ tasks: unknown[] }>("list_real_tasks")).tasks).toHaveLength(1);
    expect(agent.agent_id).toBeTruthy();
  });

  it("stops the agent whose log floods a nearly full disk, before it eats the space corral records in", async () => {
    const home = mkdtempSync(join(root(), "reserve-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", home]);
    mounted.push(home);
    const corral = unwrap(
      Corral.open({ ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), minFreeMb: 0, diskReserveMb: 12, ballastMb: 0 }, createLogger("silent"), { watch: false }),
    );
    try {
      const task = unwrap(corral.createTask({ description: "reserve" }));
      const quiet = unwrap(await corral.deploy({ taskId: task.id, agentType: "quiet", prompt: "p", command: ["bash", "-c", "echo hello; sleep 300"] }));
      // About 20 MB a second, for ever.
      const flood = unwrap(await corral.deploy({ taskId: task.id, agentType: "flood", prompt: "p", command: ["bash", "-c", "while :; do head -c 1048576 /dev/zero; sleep 0.05; done"] }));
      // The check runs every second by itself too; whichever comes first stops the flood.
      for (let i = 0; i < 200 && corral.agent(flood.id)?.status === "running"; i += 1) {
        await new Promise((r) => setTimeout(r, 50));
        await corral.checkDiskFloor();
      }
      const ended = await corral.whenCleaned(flood.id);
      expect([ended.status, ended.cleanupStatus]).toEqual(["killed", "done"]);
      expect(ended.reason).toMatch(/below diskReserveMb=12, while its log grew fastest/);
      expect(corral.agent(quiet.id)?.status).toBe("running");
      // The flood's log is archived, compressed: the space it took is back.
      expect(await corral.checkDiskFloor()).toBeNull();
    } finally {
      await corral.shutdown("test over");
    }
  });

  it.each(RUNNER_KINDS)("on a full disk, with agents in a %s, kills, exits and shutdowns still stop every process, and every end is recorded once there is room", async (runner) => {
    const home = mkdtempSync(join(root(), "fill-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", home]);
    mounted.push(home);
    const go = join(mkdtempSync(join(root(), "go-")), "go");
    const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), minFreeMb: 0, ballastMb: 0, diskReserveMb: 0, runner };
    const corral = unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
    const task = unwrap(corral.createTask({ description: "full disk" }));
    const deploy = async (command: string[]) => unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command }));
    const killed = await deploy(["sleep", "300"]);
    const exiting = await deploy(["bash", "-c", `while [ ! -e ${go} ]; do sleep 0.02; done; exit 0`]);
    const stranded = await deploy(["sleep", "300"]);
    const roots = [killed, exiting, stranded].map((a) => ({ pid: a.process!.pid, startTime: a.process!.startTime }));

    // Fill the disk, with an empty WAL, so that the next write must grow a file and cannot.
    const db = new Database(join(home, "corral.db"));
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
    const filler = join(home, "filler");
    const chunk = Buffer.alloc(64 * 1024);
    // Big writes until one is refused, then ever smaller ones, down to a byte.
    for (let size = chunk.length; size > 0; ) {
      try {
        appendFileSync(filler, chunk.subarray(0, size));
      } catch (cause) {
        if ((cause as { code?: unknown }).code !== "ENOSPC") throw cause;
        size >>= 1;
      }
    }

    const kill = await corral.kill(killed.id, "stop it");
    expect(kill).toMatchObject({ ok: false, error: { code: "DB_UNAVAILABLE", message: expect.stringMatching(/was stopped \(\d+ processes signalled, verified gone\)/) } });
    expect(isAlive(roots[0]!)).toBe(false);
    writeFileSync(go, "");
    // Its exit is seen, and kept for later in the spare journal, the state dir being full.
    const spare = spareJournalDir(home) as string;
    const kept = () => (existsSync(spare) ? readdirSync(spare).filter((name) => name.startsWith(`${exiting.id}.`)) : []);
    for (let i = 0; i < 400 && kept().length === 0; i += 1) await new Promise((r) => setTimeout(r, 25));
    expect(isAlive(roots[1]!)).toBe(false);
    expect(kept()).toHaveLength(1);
    await corral.shutdown("corral stopped: SIGTERM");
    expect(roots.filter(isAlive)).toEqual([]);

    // Room again: the next corral records every end as it happened.
    rmSync(filler);
    const next = unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
    try {
      await next.reconcile();
      const ends = [killed, exiting, stranded].map((a) => next.agent(a.id));
      // (A killed agent's exit status is there when its exit was seen before its corral closed.)
      expect(ends.map((a) => [a?.status, a?.reason])).toEqual([
        ["killed", "stop it"],
        ["completed", null],
        ["killed", "corral stopped: SIGTERM"],
      ]);
      expect(ends[1]?.exit).toEqual(exited(0));
      for (const a of ends) expect((await next.whenCleaned(a!.id)).cleanupStatus).toBe("done");
      expect(next.pendingCount()).toBe(0);
    } finally {
      await next.shutdown("test over");
    }
  });
});
