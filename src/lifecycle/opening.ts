import { join } from "node:path";
import type { Logger } from "pino";
import { createBackends } from "../backends/registry.js";
import type { Config } from "../domain/config.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { findBwrap } from "../runners/bwrap.js";
import { thisProcess } from "../runners/host.js";
import { findRunnerTools, Runners } from "../runners/registry.js";
import { diskFullGuard } from "../store/guard.js";
import { Store } from "../store/store.js";
import { Ballast } from "./ballast.js";
import type { CoreParts } from "./core.js";
import { makeDirs } from "./directories.js";
import { storePresent } from "./store-presence.js";
import { PendingRecords, spareJournalDir } from "./pending-records.js";
import { AgentEndpoints } from "./agent-endpoints.js";
import { Relays } from "./relays.js";
import { corralEntry } from "./self.js";
import { StreamFollower } from "./stream-follower.js";
import { Workspaces } from "./workspace.js";

const STREAM_POLL_MS = 250;

/**
 * Finds the tools the config asks for (refusing a config whose tools are missing), opens the
 * state dir and its database, and makes the runners and backends: everything a corral process
 * works with, or the reason it cannot start.
 */
export function openParts(config: Config, logger: Logger): Result<CoreParts> {
  const owner = thisProcess();
  if (owner === null) return fail("PROC_UNAVAILABLE", "cannot read /proc/self/stat: corral needs Linux with /proc mounted");
  const backends = createBackends(config.backends, { agentServer: { command: process.execPath, args: [corralEntry(), "serve", "--agent"], home: config.home } });
  if (!backends.ok) return backends;
  const tools = findRunnerTools(config);
  if (!tools.ok) return tools;
  let bwrap: string | null = null;
  if (config.containment !== "none") {
    const found = findBwrap(process.env.PATH);
    if (found.ok) bwrap = found.value;
    else if (config.containment === "bwrap") return fail("CONFIG_INVALID", `containment is bwrap but ${found.error.message}; or set CORRAL_CONTAINMENT=none`);
  }
  const made = makeDirs(config.home, 0o700);
  if (!made.ok) return fail("DB_UNAVAILABLE", `cannot create the state dir ${config.home}: ${made.error.message}`);
  const dbPath = join(config.home, "corral.db");
  const present = storePresent(config.home, dbPath);
  if (!present.ok) return present;
  const ballast = new Ballast(join(config.home, "ballast"), Math.floor(config.ballastMb * 1024 * 1024));
  ballast.ensure();
  const store = Store.open(
    dbPath,
    diskFullGuard(() => {
      const freed = ballast.release();
      if (freed) logger.warn("the disk is full: released the ballast so that corral can still record");
      return freed;
    }),
  );
  if (!store.ok) return store;
  const runners = Runners.open(config, tools.value);
  if (!runners.ok) {
    store.value.close();
    return runners;
  }
  const workspaces = new Workspaces(config.home);
  return ok({
    config,
    store: store.value,
    logger,
    owner,
    workspaces,
    runners: runners.value,
    backends: backends.value,
    streams: new StreamFollower(store.value, logger, STREAM_POLL_MS),
    pending: new PendingRecords(join(config.home, "pending"), logger, spareJournalDir(config.home)),
    relays: new Relays((id) => workspaces.relayDir(id)),
    endpoints: new AgentEndpoints(),
    ballast,
    bwrap,
    usesSubreaper: tools.value.tini !== null,
  });
}

