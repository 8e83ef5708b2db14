import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import { stateDirKey } from "../domain/paths.js";
import { identify, type ProcessIdentity } from "./identity.js";

/**
 * An agent's own cgroup (v2). A process in a cgroup takes every descendant with it, whatever
 * it calls (setsid, double fork, `env -i`), so the cgroup is the agent's exact membership;
 * writing 1 to cgroup.kill SIGKILLs all of it at once, and cgroup.events says when it is empty.
 *
 * Layout: `<v2 mount><corral's own cgroup>/corral/<key of the state dir>/<agent id>`. The two
 * upper levels are corral's and never hold a process, so they may hand controllers down (the
 * v2 "no internal processes" rule); one level per state dir keeps each corral's stale-cgroup
 * sweep to its own agents.
 *
 * One module, a little over 300 lines: detection, making, killing, removing and metering act
 * on the same layout and its rules, which read best in one place.
 */
const CGROUP_TOP = "corral";

/** Where the v2 hierarchy is mounted, from /proc/self/mounts; null when there is none. */
export function parseCgroup2Mount(mounts: string): string | null {
  for (const line of mounts.split("\n")) {
    const [, mountPoint, fsType] = line.split(" ");
    // Mount points escape spaces as \040.
    if (fsType === "cgroup2" && mountPoint !== undefined) return mountPoint.replaceAll("\\040", " ");
  }
  return null;
}

/** This process's v2 cgroup (`0::/path` in /proc/self/cgroup); null when it has none. */
export function parseOwnCgroup(text: string): string | null {
  const line = text.split("\n").find((l) => l.startsWith("0::"));
  return line === undefined ? null : line.slice(3);
}

/** The dir under which this process would create cgroups for `home`, or null without a v2 hierarchy. */
export function stateDirCgroup(home: string): string | null {
  const base = ownCgroupDir();
  return base.ok ? join(base.value, CGROUP_TOP, stateDirKey(home)) : null;
}

function ownCgroupDir(): Result<string> {
  let mounts: string;
  let own: string;
  try {
    mounts = readFileSync("/proc/self/mounts", "utf8");
    own = readFileSync("/proc/self/cgroup", "utf8");
  } catch (cause) {
    return fail("CGROUPS_UNAVAILABLE", `cannot read /proc/self/mounts or /proc/self/cgroup: ${describeUnknown(cause)}`);
  }
  const mount = parseCgroup2Mount(mounts);
  if (mount === null) return fail("CGROUPS_UNAVAILABLE", "no cgroup2 file system is mounted (see /proc/self/mounts)");
  const path = parseOwnCgroup(own);
  if (path === null) return fail("CGROUPS_UNAVAILABLE", "this process has no cgroup v2 path in /proc/self/cgroup");
  return ok(join(mount, path));
}

/** What a setting asks an agent's cgroup to cap; 0 = no cap. */
export interface CgroupCaps {
  readonly memoryMb: number;
  readonly pids: number;
}

const CAP_CONTROLLER = { memoryMb: "memory", pids: "pids" } as const;
const MAKE_ATTEMPTS = 5;

/** The corral-owned parent of one state dir's agents' cgroups. */
export class Cgroups {
  private constructor(
    /** `<...>/corral/<key>`: every agent cgroup of this state dir is a child of it. */
    readonly parent: string,
    /** Controllers an agent's cgroup gets (memory, pids, cpu ...), as the hierarchy delegates them. */
    readonly controllers: readonly string[],
    /**
     * Whether this corral runs inside an agent's cgroup of the same state dir (an agent's own
     * server, spawning children): its agents' cgroups nest in that agent's, which holds
     * processes and so cannot hand controllers down, but whose caps bound the whole subtree.
     */
    readonly enclosed: boolean,
  ) {}

  /**
   * Finds the v2 hierarchy and makes the parent, handing down whatever controllers the level
   * above delegates. Refused (CGROUPS_UNAVAILABLE, saying why) where there is no v2 mount, the
   * hierarchy is not writable (not root and no delegated subtree), or cgroup.kill is missing
   * (kernel before 5.14).
   */
  static open(home: string): Result<Cgroups> {
    const base = ownCgroupDir();
    if (!base.ok) return base;
    const top = join(base.value, CGROUP_TOP);
    const parent = join(top, stateDirKey(home));
    try {
      mkdirSync(parent, { recursive: true });
    } catch (cause) {
      return fail("CGROUPS_UNAVAILABLE", `cannot create ${parent}: ${describeUnknown(cause)} (run as root, or in a delegated subtree: systemd-run --user --scope -p Delegate=yes)`);
    }
    if (!existsSync(join(parent, "cgroup.kill"))) {
      return fail("CGROUPS_UNAVAILABLE", `${parent} has no cgroup.kill: the kernel is older than 5.14`);
    }
    try {
      accessSync(join(parent, "cgroup.procs"), constants.W_OK);
    } catch (cause) {
      return fail("CGROUPS_UNAVAILABLE", `${parent}/cgroup.procs is not writable: ${describeUnknown(cause)}`);
    }
    enableControllers(top);
    enableControllers(parent);
    const enclosed = base.value.split("/").some((part, i, parts) => part === CGROUP_TOP && parts[i + 1] === stateDirKey(home));
    const cgroups = new Cgroups(parent, readWords(join(parent, "cgroup.subtree_control")), enclosed);
    // Made again with the first agent: a command that never deploys leaves nothing behind. So
    // does any other state dir's parent left empty (a corral killed before it closed): any
    // corral may remove it, as a corral making an agent's cgroup makes its parent again.
    for (const name of subdirs(top)) removeIfEmpty(join(top, name));
    removeIfEmpty(top);
    return ok(cgroups);
  }

  private makeParent(): void {
    mkdirSync(this.parent, { recursive: true });
    enableControllers(join(this.parent, ".."));
    enableControllers(this.parent);
  }

  /**
   * The controller a cap needs that this hierarchy does not give, or null when all are there
   * (or when the enclosing agent's cgroup already holds the cap for the whole subtree).
   */
  missingFor(caps: CgroupCaps): string | null {
    if (this.enclosed) return null;
    for (const [key, controller] of Object.entries(CAP_CONTROLLER)) {
      if (caps[key as keyof CgroupCaps] > 0 && !this.controllers.includes(controller)) return controller;
    }
    return null;
  }

  /** A new empty cgroup for one agent, with its caps; its path. */
  create(name: string, caps: CgroupCaps): Result<string> {
    const path = join(this.parent, name);
    try {
      // The parent is made with the first agent, and removed by any corral on this state dir
      // that closes (or opens) with no agent left, which may happen between the two mkdirs.
      for (let attempt = 0; ; attempt += 1) {
        try {
          mkdirSync(path);
          break;
        } catch (cause) {
          if (!isMissing(cause) || attempt === MAKE_ATTEMPTS) throw cause;
          this.makeParent();
        }
      }
      // Only where the controller is there: nested in an agent's cgroup, that agent's cap holds.
      if (caps.memoryMb > 0 && this.controllers.includes("memory")) writeFileSync(join(path, "memory.max"), String(caps.memoryMb * 1024 * 1024));
      if (caps.pids > 0 && this.controllers.includes("pids")) writeFileSync(join(path, "pids.max"), String(caps.pids));
      return ok(path);
    } catch (cause) {
      removeCgroup(path);
      return fail("LAUNCH_FAILED", `cannot create the agent's cgroup ${path}: ${describeUnknown(cause)}`);
    }
  }

  /**
   * Removes this state dir's agent cgroups that are empty and not kept (a crash left them
   * between creating a cgroup and cleaning it); populated ones are left for their cleanup.
   * `keep` is asked after the listing, so a cgroup made meanwhile is not in it. Returns the
   * removed paths.
   */
  removeStale(keep: () => ReadonlySet<string>): string[] {
    const names = subdirs(this.parent);
    if (names.length === 0) return [];
    const kept = keep();
    const removed: string[] = [];
    for (const name of names) {
      const path = join(this.parent, name);
      if (kept.has(name) || cgroupPopulated(path)) continue;
      if (removeCgroup(path).removed) removed.push(path);
    }
    return removed;
  }

  /**
   * Removes the state dir's parent once it holds no agent cgroup; false when it still does. One
   * rmdir, never a recursive removal: an agent cgroup another corral makes meanwhile stops it.
   */
  removeParentIfEmpty(): boolean {
    if (!removeIfEmpty(this.parent)) return false;
    // And corral's own level above it, once no state dir has agents there.
    removeIfEmpty(dirname(this.parent));
    return true;
  }
}

/** One rmdir: false when the cgroup is gone already or still has members or children. */
function removeIfEmpty(path: string): boolean {
  try {
    rmdirSync(path);
    return true;
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (isMissing(cause) || code === "EBUSY" || code === "ENOTEMPTY") return false;
    throw cause;
  }
}

function readWords(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split(/\s+/).filter(Boolean);
  } catch (cause) {
    if (isMissing(cause)) return [];
    throw cause;
  }
}

/** Hands every controller the cgroup has down to its children, one by one: some may be refused. */
function enableControllers(path: string): void {
  const enabled = new Set(readWords(join(path, "cgroup.subtree_control")));
  for (const controller of readWords(join(path, "cgroup.controllers"))) {
    if (enabled.has(controller)) continue;
    try {
      writeFileSync(join(path, "cgroup.subtree_control"), `+${controller}`);
    } catch (cause) {
      // EBUSY/EINVAL/EACCES: the controller stays with the parent (a threaded or process-holding
      // level, or no delegation); agents are still contained and killed, only not metered by it.
      const code = (cause as { code?: unknown }).code;
      if (code !== "EBUSY" && code !== "EINVAL" && code !== "EACCES" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw cause;
    }
  }
}

function subdirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (cause) {
    if (isMissing(cause)) return [];
    throw cause;
  }
}

function isMissing(cause: unknown): boolean {
  const code = (cause as { code?: unknown }).code;
  return code === "ENOENT" || code === "ENODEV";
}

/** The live processes in the cgroup and below it; [] once it is gone. */
export function cgroupMembers(path: string): ProcessIdentity[] {
  const members: ProcessIdentity[] = [];
  for (const pid of readWords(join(path, "cgroup.procs"))) {
    const identity = identify(Number(pid));
    if (identity !== null) members.push(identity);
  }
  for (const name of subdirs(path)) members.push(...cgroupMembers(join(path, name)));
  return members;
}

/** Whether a process is left in the cgroup or below it (cgroup.events); false once it is gone. */
export function cgroupPopulated(path: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(path, "cgroup.events"), "utf8"));
  } catch (cause) {
    if (isMissing(cause)) return false;
    throw cause;
  }
}

/** SIGKILLs every process in the cgroup and below it; false when the cgroup is already gone. */
export function killCgroup(path: string): boolean {
  try {
    writeFileSync(join(path, "cgroup.kill"), "1");
    return true;
  } catch (cause) {
    if (isMissing(cause)) return false;
    throw cause;
  }
}

export type CgroupRemoval = { readonly removed: boolean; readonly error: string | null };

/**
 * Removes the cgroup and the empty cgroups below it (an agent's own corral, such as its agent
 * server, nests its children's cgroups there), deepest first. A cgroup that still holds a
 * process cannot be removed: the error says so.
 */
export function removeCgroup(path: string): CgroupRemoval {
  for (const name of subdirs(path)) {
    const below = removeCgroup(join(path, name));
    if (below.error !== null) return below;
  }
  try {
    rmdirSync(path);
    return { removed: true, error: null };
  } catch (cause) {
    if (isMissing(cause)) return { removed: false, error: null };
    const code = (cause as { code?: unknown }).code;
    if (code === "EBUSY" || code === "ENOTEMPTY") return { removed: false, error: `${path} still holds a process` };
    throw cause;
  }
}

/** What the cgroup has used: CPU always; memory where that controller is enabled. */
export interface CgroupUsage {
  readonly cpuSeconds: number;
  readonly memoryMb: number | null;
}

export function cgroupUsage(path: string): CgroupUsage | null {
  const read = (file: string): string | null => {
    try {
      return readFileSync(join(path, file), "utf8");
    } catch (cause) {
      if (isMissing(cause)) return null;
      throw cause;
    }
  };
  const cpu = read("cpu.stat");
  if (cpu === null) return null;
  const usec = Number(/^usage_usec (\d+)$/m.exec(cpu)?.[1] ?? 0);
  const memory = read("memory.current");
  return { cpuSeconds: usec / 1e6, memoryMb: memory === null ? null : Number(memory.trim()) / (1024 * 1024) };
}
