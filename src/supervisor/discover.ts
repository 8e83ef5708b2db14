import { cgroupMembers } from "./cgroup.js";
import { sameProcess, statOf, type ProcessIdentity } from "./identity.js";
import { childPids, environHas, listPids, readStat, uidOf } from "./procfs.js";

/** Everything the store knows that names an agent's processes. */
export interface AgentScope {
  /** The process corral launched: tini when a subreaper is used, else the agent itself. */
  readonly root: ProcessIdentity;
  /** The session the root leads; every descendant that did not call setsid stays in it. */
  readonly sid: number;
  /** Whether the root is a child subreaper, so that every descendant stays in its tree. */
  readonly subreaper: boolean;
  /** `NAME=value` in every descendant's inherited environment. */
  readonly mark: string;
  /** The agent's own cgroup (its directory), which holds every descendant; null without one. */
  readonly cgroup: string | null;
}

export const DISCOVERY_METHODS = ["cgroup", "tree", "sweep"] as const;
export type DiscoveryMethod = (typeof DISCOVERY_METHODS)[number];

/**
 * The escapers a method cannot see, said in every receipt rather than claiming a certainty it
 * does not have. A cgroup holds whatever its processes call (only a process with write access
 * to another cgroup's cgroup.procs could move itself out: an act of evasion, not of ordinary
 * daemonizing, and documented as such). A live tini holds every orphan in its tree. A sweep
 * sees the session and the mark, so a descendant that left both is invisible to it.
 */
export function blindSpots(method: DiscoveryMethod): string[] {
  switch (method) {
    case "cgroup":
    case "tree":
      return [];
    case "sweep":
      return ["a descendant that left the agent's session and cleared its environment (setsid env -i ...) once no subreaper held it"];
  }
}

/**
 * The scope of an agent whose process was never recorded: no root, no session, only the mark
 * in its environment. pid 0 names no process, so the sweep takes every process of ours
 * that carries the mark, whenever it started.
 */
export function markedScope(mark: string, cgroup: string | null): AgentScope {
  return { root: { pid: 0, startTime: "0" }, sid: -1, subreaper: false, mark, cgroup };
}

export interface Discovery {
  readonly method: DiscoveryMethod;
  readonly processes: ProcessIdentity[];
}

/** The root and all its descendants, walked through /proc/<pid>/task/<tid>/children. */
export function treeOf(root: ProcessIdentity): ProcessIdentity[] {
  if (statOf(root) === null) return [];
  const found: ProcessIdentity[] = [root];
  const seen = new Set<number>([root.pid]);
  for (let i = 0; i < found.length; i += 1) {
    for (const pid of childPids((found[i] as ProcessIdentity).pid)) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      const stat = readStat(pid);
      if (stat !== null && stat.state !== "Z" && stat.state !== "X") found.push({ pid, startTime: stat.startTime });
    }
  }
  return found;
}

/**
 * A pass over every process: members of the root's session, and processes started after the
 * root that carry its mark (those that called setsid). While the root lives its session id is
 * ours; once it is gone the id could in principle be reused, so members must carry the mark.
 */
export function sweep(scope: AgentScope): ProcessIdentity[] {
  const rootAlive = statOf(scope.root) !== null;
  const notBefore = BigInt(scope.root.startTime);
  const uid = process.getuid?.() ?? 0;
  const found: ProcessIdentity[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    const stat = readStat(pid);
    if (stat === null || stat.state === "Z" || stat.state === "X") continue;
    if (BigInt(stat.startTime) < notBefore) continue;
    const inSession = stat.session === scope.sid;
    if (inSession && rootAlive) {
      found.push({ pid, startTime: stat.startTime });
      continue;
    }
    if (uidOf(pid) !== uid) continue;
    if (environHas(pid, scope.mark)) found.push({ pid, startTime: stat.startTime });
  }
  return found;
}

/**
 * The cgroup's members, and the root while it lives: a root not yet in its cgroup is still in
 * its first instruction, the one that moves it there, and has started nothing. The root comes
 * last, so each process is signalled by corral before a root such as tini passes the signal on.
 */
export function cgroupScope(scope: AgentScope & { cgroup: string }): ProcessIdentity[] {
  const members = cgroupMembers(scope.cgroup).filter((p) => !sameProcess(p, scope.root));
  if (statOf(scope.root) !== null) members.push(scope.root);
  return members;
}

/**
 * The agent's live processes. Its cgroup lists them exactly; a live subreaper root holds every
 * descendant in its tree, so the walk costs only the agent's own processes; otherwise one pass
 * over /proc is needed.
 */
export function discover(scope: AgentScope): Discovery {
  if (scope.cgroup !== null) return { method: "cgroup", processes: cgroupScope({ ...scope, cgroup: scope.cgroup }) };
  if (scope.subreaper && statOf(scope.root) !== null) return { method: "tree", processes: treeOf(scope.root) };
  return { method: "sweep", processes: sweep(scope) };
}

