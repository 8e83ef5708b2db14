import { copyFileSync, existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import { Corral } from "../src/lifecycle/corral.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { isAlive } from "../src/supervisor/identity.js";
import { openCorral } from "./helpers/sandbox.js";

const open = (home: string) => Corral.open(unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), createLogger("silent"), { watch: false });

let corral: Corral | null = null;
afterEach(async () => {
  await corral?.shutdown("test over");
  corral = null;
});

describe("a database deleted or replaced underneath", () => {
  it("is noticed: no more work is taken, kills still stop processes, and what it held is saved", async () => {
    corral = openCorral();
    const c = corral;
    const home = c.config.home;
    const task = unwrap(c.createTask({ description: "before" }));
    const agent = unwrap(await c.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["sleep", "300"] }));
    const root = { pid: agent.process!.pid, startTime: agent.process!.startTime };
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(home, `corral.db${suffix}`), { force: true });

    const refused = c.createTask({ description: "after" });
    expect(refused).toMatchObject({ ok: false, error: { code: "STORE_LOST", message: expect.stringMatching(/corral\.db was deleted while this corral was running, so it takes no more work/) } });
    expect(await c.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["true"] })).toMatchObject({ ok: false, error: { code: "STORE_LOST" } });
    expect(c.status(task.id)).toMatchObject({ ok: false, error: { code: "STORE_LOST" } });
    const killed = unwrap(await c.kill(agent.id, "stop it anyway"));
    expect(killed.cleanup.status).toBe("done");
    expect(isAlive(root)).toBe(false);

    // Another corral is not handed an empty store that hides every agent.
    const second = open(home);
    expect(second).toMatchObject({ ok: false, error: { code: "DB_MISSING", message: expect.stringMatching(/is missing but the state dir holds 1 task workspaces/) } });

    await c.shutdown("test over");
    corral = null;
    const rescued = readdirSync(home).filter((name) => /^corral\.db\.rescued-[-\dTZ]+$/.test(name));
    expect(rescued).toHaveLength(1);
    renameSync(join(home, rescued[0] as string), join(home, "corral.db"));
    corral = unwrap(open(home));
    const restored = corral.agent(agent.id);
    expect([restored?.status, restored?.cleanupStatus, restored?.reason]).toEqual(["killed", "done", "stop it anyway"]);
  });

  it("is noticed when another file takes its place", async () => {
    corral = openCorral();
    const c = corral;
    const home = c.config.home;
    unwrap(c.createTask({ description: "mine" }));
    const other = openCorral();
    try {
      copyFileSync(join(other.config.home, "corral.db"), join(home, "corral.db.new"));
    } finally {
      await other.close();
    }
    renameSync(join(home, "corral.db.new"), join(home, "corral.db"));
    expect(c.taskPage({})).toMatchObject({ ok: false, error: { code: "STORE_LOST", message: expect.stringMatching(/was replaced by another file/) } });
    expect(existsSync(join(home, "corral.db"))).toBe(true);
  });
});
