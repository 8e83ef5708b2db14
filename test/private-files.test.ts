import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { serveOwnAgents } from "../src/mcp/agent-serving.js";
import { agentScript, openCorral } from "./helpers/sandbox.js";

/** Every path under `dir` (itself included) whose mode lets group or others in. */
function openToOthers(dir: string): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if ((stat.mode & 0o077) !== 0) found.push(`${path} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return found;
}

let corral: Corral | null = null;
let umask = 0;
// With no umask at all, any file corral makes without saying its mode comes out open to
// everyone: the walk then catches it, whatever the user's umask is.
beforeAll(() => {
  umask = process.umask(0);
});
afterAll(() => {
  process.umask(umask);
});
afterEach(async () => {
  await corral?.shutdown("test over");
  corral = null;
});

describe.each([
  ["process", "none"],
  ["tmux", "none"],
  ["process", "bwrap"],
] as const)("with the %s runner and containment %s", (runner, containment) => {
  it("no file or dir corral writes is readable by group or others, while agents run and after they are cleaned", async () => {
    const home = join(process.env.CORRAL_TEST_ROOT as string, `fresh-${runner}-${containment}`, "state");
    corral = openCorral({ home, runner, containment, ballastMb: 1, backends: { claude: { path: agentScript("idle-claude.sh") } } });
    serveOwnAgents(corral, "test", createLogger("silent"));
    const task = unwrap(corral.createTask({ description: "private files" }));
    const worker = unwrap(
      await corral.deploy({ taskId: task.id, agentType: "worker", prompt: "p", command: ["bash", "-c", "cat; echo done; read -r _ </dev/null"] }),
    );
    const claude = unwrap(await corral.deploy({ taskId: task.id, agentType: "claude", prompt: "p", backend: "claude" }));
    await corral.whenCleaned(worker.id);
    expect(existsSync(join(home, "corral.db-wal"))).toBe(true);
    expect(existsSync(join(home, "ballast"))).toBe(true);
    expect(existsSync(join(claude.agentDir, "mcp.json"))).toBe(true);
    if (containment === "bwrap") expect(existsSync(join(home, "relay", claude.id, "mcp.sock"))).toBe(true);
    expect(openToOthers(join(home, ".."))).toEqual([]);
    await corral.kill(claude.id);
    expect(corral.agent(worker.id)?.archivePath).not.toBeNull();
    expect(openToOthers(join(home, ".."))).toEqual([]);
  });
});

describe("a database an older corral left open to others", () => {
  it("is narrowed to 0600, with its WAL and shared memory, when corral opens it", async () => {
    const home = join(process.env.CORRAL_TEST_ROOT as string, "older", "state");
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const db = new Database(join(home, "corral.db"));
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    for (const file of ["corral.db", "corral.db-wal", "corral.db-shm"]) chmodSync(join(home, file), 0o644);
    corral = openCorral({ home });
    db.close();
    expect(openToOthers(join(home, ".."))).toEqual([]);
  });
});
