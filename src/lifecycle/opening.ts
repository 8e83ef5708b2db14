import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { createBackends } from "../backends/registry.js";
import type { Config } from "../domain/config.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { anyLimit, limitsOf, prlimitOptions } from "../domain/resource-limits.js";
import { findBwrap } from "../runners/bwrap.js";
import { findExecutable } from "../runners/executables.js";
import { ProcessRunner } from "../runners/process-runner.js";
import type { Runner } from "../runners/runner.js";
import { findTmuxTools, TMUX_MISSING, TmuxRunner } from "../runners/tmux-runner.js";
import { diskFullGuard } from "../store/guard.js";
import { Store } from "../store/store.js";
import { Cgroups, type CgroupCaps } from "../supervisor/cgroup.js";
import { identify } from "../supervisor/identity.js";
import { Ballast } from "./ballast.js";
import type { CoreParts } from "./core.js";
import { makeDirs } from "./directories.js";
import { PendingRecords, spareJournalDir } from "./pending-records.js";
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
  const owner = identify(process.pid);
  if (owner === null) return fail("PROC_UNAVAILABLE", "cannot read /proc/self/stat: corral needs Linux with /proc mounted");
  const backends = createBackends(config.backends, { agentServer: { command: process.execPath, args: [corralEntry(), "serve", "--agent"], home: config.home } });
  if (!backends.ok) return backends;
  const tini = config.subreaper === "none" ? null : findExecutable("tini", process.env.PATH);
  if (config.subreaper === "tini" && tini === null) {
    return fail("CONFIG_INVALID", "subreaper is tini but tini is not on PATH; install it (apt-get install tini) or set CORRAL_SUBREAPER=auto");
  }
  const tmux = findTmuxTools(process.env.PATH);
  if (config.runner === "tmux" && tmux === null) {
    return fail("CONFIG_INVALID", `runner is tmux but ${TMUX_MISSING}; or set CORRAL_RUNNER=process`);
  }
  let bwrap: string | null = null;
  if (config.containment !== "none") {
    const found = findBwrap(process.env.PATH);
    if (found.ok) bwrap = found.value;
    else if (config.containment === "bwrap") return fail("CONFIG_INVALID", `containment is bwrap but ${found.error.message}; or set CORRAL_CONTAINMENT=none`);
  }
  const prlimit = anyLimit(limitsOf(config)) ? findExecutable("prlimit", process.env.PATH) : null;
  if (anyLimit(limitsOf(config)) && prlimit === null) {
    return fail("CONFIG_INVALID", "agent resource limits are set but prlimit is not on PATH; install util-linux or unset CORRAL_AGENT_*");
  }
  const made = makeDirs(config.home, 0o700);
  if (!made.ok) return fail("DB_UNAVAILABLE", `cannot create the state dir ${config.home}: ${made.error.message}`);
  const dbPath = join(config.home, "corral.db");
  const orphaned = workspacesWithoutStore(config.home, dbPath);
  if (orphaned > 0) {
    return fail(
      "DB_MISSING",
      `${dbPath} is missing but the state dir holds ${orphaned} task workspaces: the database was deleted or moved, and a new empty one would hide every agent recorded there. Put it back (a corral that saw it go saved a copy as corral.db.rescued-*), or move ${join(config.home, "workspaces")} aside to start afresh`,
    );
  }
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
  const cgroups = openCgroups(config);
  if (!cgroups.ok) {
    store.value.close();
    return cgroups;
  }
  const workspaces = new Workspaces(config.home);
  const wrapping = { tiniPath: tini, limiter: prlimit === null ? [] : [prlimit, ...prlimitOptions(limitsOf(config)), "--"] };
  const runners: Runner[] = [new ProcessRunner(wrapping)];
  if (tmux !== null) runners.push(new TmuxRunner(tmux.tmux, tmux.setsid, join(config.home, "tmux"), wrapping));
  return ok({
    config,
    store: store.value,
    logger,
    owner,
    workspaces,
    runners: new Map(runners.map((runner) => [runner.kind, runner])),
    backends: backends.value,
    streams: new StreamFollower(store.value, logger, STREAM_POLL_MS),
    pending: new PendingRecords(join(config.home, "pending"), logger, spareJournalDir(config.home)),
    relays: new Relays((id) => workspaces.relayDir(id)),
    ballast,
    cgroups: cgroups.value,
    caps: capsOf(config),
    bwrap,
    usesSubreaper: tini !== null,
  });
}

function capsOf(config: Config): CgroupCaps {
  return { memoryMb: config.agentMemoryMb, pids: config.agentPids };
}

/**
 * Each agent's own cgroup, per the `cgroups` setting: `auto` uses one where the v2 hierarchy
 * is writable and otherwise falls back to tini and the sweep; `on` refuses to start without
 * one. A cap (agentMemoryMb, agentPids) needs a cgroup with its controller: a cap that would
 * silently not hold is refused.
 */
function openCgroups(config: Config): Result<Cgroups | null> {
  const caps = capsOf(config);
  const capped = caps.memoryMb > 0 || caps.pids > 0;
  if (config.cgroups === "off") {
    if (capped) return fail("CONFIG_INVALID", "agentMemoryMb and agentPids need cgroups, but cgroups is off; set CORRAL_CGROUPS=auto or unset the caps");
    return ok(null);
  }
  const opened = Cgroups.open(config.home);
  if (!opened.ok) {
    if (config.cgroups === "on") return fail("CGROUPS_UNAVAILABLE", `cgroups is on, but ${opened.error.message}; or set CORRAL_CGROUPS=auto`);
    if (capped) return fail("CGROUPS_UNAVAILABLE", `agentMemoryMb and agentPids need a cgroup per agent, but ${opened.error.message}`);
    return ok(null);
  }
  const missing = opened.value.missingFor(caps);
  if (missing !== null) {
    opened.value.removeParentIfEmpty();
    return fail("CGROUPS_UNAVAILABLE", `a cap is set that needs the ${missing} controller, which the cgroup hierarchy does not delegate here (${opened.value.parent} has: ${opened.value.controllers.join(" ") || "none"})`);
  }
  return ok(opened.value);
}

/** How many task workspaces a state dir holds when it has no database; 0 when it has one. */
function workspacesWithoutStore(home: string, dbPath: string): number {
  if (existsSync(dbPath)) return 0;
  try {
    return readdirSync(join(home, "workspaces")).length;
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return 0;
    throw cause;
  }
}
