import { join } from "node:path";
import type { Config, RunnerKind } from "../domain/config.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { anyLimit, limitsOf, prlimitOptions } from "../domain/resource-limits.js";
import { Cgroups, type CgroupCaps } from "../supervisor/cgroup.js";
import { findExecutable } from "./executables.js";
import type { LocalSetup } from "./local/local-runner.js";
import { ProcessRunner } from "./process/process-runner.js";
import type { Runner } from "./runner.js";
import { TmuxRunner } from "./tmux/tmux-runner.js";
import { findTmuxTools, TMUX_MISSING, type TmuxTools } from "./tmux/tools.js";

/** The programs the local runners use, found on PATH; nothing is made yet. */
export interface RunnerTools {
  readonly tini: string | null;
  readonly prlimit: string | null;
  readonly tmux: TmuxTools | null;
}

/**
 * Finds what the configuration asks for, and refuses a setting that cannot hold here (tini
 * named but missing, tmux the default runner but missing, limits without prlimit). Makes
 * nothing, so a refused configuration leaves no trace.
 */
export function findRunnerTools(config: Config): Result<RunnerTools> {
  const tini = config.subreaper === "none" ? null : findExecutable("tini", process.env.PATH);
  if (config.subreaper === "tini" && tini === null) {
    return fail("CONFIG_INVALID", "subreaper is tini but tini is not on PATH; install it (apt-get install tini) or set CORRAL_SUBREAPER=auto");
  }
  const tmux = findTmuxTools(process.env.PATH);
  if (config.runner === "tmux" && tmux === null) {
    return fail("CONFIG_INVALID", `runner is tmux but ${TMUX_MISSING}; or set CORRAL_RUNNER=process`);
  }
  const limited = anyLimit(limitsOf(config));
  const prlimit = limited ? findExecutable("prlimit", process.env.PATH) : null;
  if (limited && prlimit === null) {
    return fail("CONFIG_INVALID", "agent resource limits are set but prlimit is not on PATH; install util-linux or unset CORRAL_AGENT_*");
  }
  return ok({ tini, prlimit, tmux });
}

/**
 * Every runner of one corral process, by kind. Each is there for the agents already on record
 * (a tmux agent is stopped through /proc even where tmux is missing); `launchable` says which
 * can start new ones.
 */
export class Runners {
  private constructor(
    private readonly byKind: ReadonlyMap<RunnerKind, Runner>,
    private readonly cgroups: Cgroups | null,
  ) {}

  /** Opens the runners: makes this state dir's cgroup parent when agents get cgroups. */
  static open(config: Config, tools: RunnerTools): Result<Runners> {
    const cgroups = openCgroups(config);
    if (!cgroups.ok) return cgroups;
    const limiter = tools.prlimit === null ? [] : [tools.prlimit, ...prlimitOptions(limitsOf(config)), "--"];
    const setup: LocalSetup = { wrapping: { tiniPath: tools.tini, limiter }, cgroups: cgroups.value, caps: capsOf(config) };
    const runners: Runner[] = [new ProcessRunner(setup), new TmuxRunner(tools.tmux, join(config.home, "tmux"), setup)];
    return ok(new Runners(new Map(runners.map((runner) => [runner.kind, runner])), cgroups.value));
  }

  get(kind: RunnerKind): Runner {
    const runner = this.byKind.get(kind);
    if (runner === undefined) throw new Error(`no ${kind} runner`);
    return runner;
  }

  /** The runner that starts a new agent, or why it cannot here. */
  launchable(kind: RunnerKind): Result<Runner> {
    const runner = this.get(kind);
    if (runner.unavailable !== null) return fail("INVALID_INPUT", `${kind} is not available: ${runner.unavailable}`, "runner");
    return ok(runner);
  }

  /** The parent of this state dir's agents' cgroups, or null when agents run without one. */
  get cgroupParent(): string | null {
    return this.cgroups?.parent ?? null;
  }

  /**
   * Removes what agents that are no longer live left behind (empty cgroups: a crash between
   * making and cleaning one). `liveIds` is asked after the listing, so what is made meanwhile
   * is kept. Returns what was removed.
   */
  removeLeftovers(liveIds: () => ReadonlySet<string>): string[] {
    return this.cgroups?.removeStale(liveIds) ?? [];
  }

  /** At close: the state dir's cgroup parent goes with the last agent; running agents keep theirs. */
  close(): void {
    this.cgroups?.removeParentIfEmpty();
  }
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
