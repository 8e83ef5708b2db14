import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../src/domain/config.js";
import { unwrap } from "../../src/domain/errors.js";
import { Corral } from "../../src/lifecycle/corral.js";
import { loadConfig } from "../../src/lifecycle/config-loader.js";
import { spareJournalDir } from "../../src/lifecycle/pending-records.js";
import { createLogger } from "../../src/lifecycle/logger.js";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures");
export const agentScript = (name: string): string => join(FIXTURES, "agents", name);

/**
 * A corral on a fresh state dir inside the file's temp root (set up by the leak guard). It does
 * not watch in the background: tests call reconcile(), reap() and retryCleanups() themselves,
 * so nothing runs behind an assertion's back.
 */
export function openCorral(overrides: Partial<Config> = {}): Corral {
  const root = process.env.CORRAL_TEST_ROOT;
  if (root === undefined) throw new Error("the leak guard did not run: no CORRAL_TEST_ROOT");
  const home = mkdtempSync(join(root, "state-"));
  const config = { ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), ...overrides };
  return unwrap(Corral.open(config, createLogger("silent"), { watch: false }));
}

/**
 * Agent temp dirs, relay dirs, live logs, half-written archives and agents' ends still waiting
 * in a journal (never recorded) anywhere under `root`.
 */
export function leftoverTempFiles(root: string): string[] {
  const found: string[] = [];
  if (!existsSync(root)) return found;
  for (const state of readdirSync(root)) {
    const relays = join(root, state, "relay");
    if (existsSync(relays)) found.push(...readdirSync(relays).map((name) => join(relays, name)));
    for (const pending of [join(root, state, "pending"), spareJournalDir(join(root, state))]) {
      // The spare journal, outside the state dir, must be gone altogether once empty.
      if (pending !== null && existsSync(pending)) found.push(...(pending.startsWith(root) ? readdirSync(pending).filter((n) => n.endsWith(".json")).map((n) => join(pending, n)) : [pending]));
    }
    const workspaces = join(root, state, "workspaces");
    if (!existsSync(workspaces)) continue;
    for (const task of readdirSync(workspaces)) {
      for (const sub of ["agents", "logs"]) {
        const dir = join(workspaces, task, sub);
        if (existsSync(dir)) found.push(...readdirSync(dir).map((name) => join(dir, name)));
      }
      const archive = join(workspaces, task, "archive");
      if (existsSync(archive)) found.push(...readdirSync(archive).filter((n) => n.endsWith(".partial")).map((n) => join(archive, n)));
    }
  }
  return found;
}
