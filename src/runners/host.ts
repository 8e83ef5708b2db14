import type { Config } from "../domain/config.js";
import { ancestry as ancestorsOf } from "../supervisor/ancestry.js";
import { Cgroups } from "../supervisor/cgroup.js";
import { blindSpots, treeOf } from "../supervisor/discover.js";
import { identify, isAlive, sameProcess as same, type ProcessIdentity } from "../supervisor/identity.js";
import { clientSocketInode, socketHolder, type LoopbackPeer } from "../supervisor/sockets.js";

/**
 * What the lifecycle needs to know about the machine corral itself runs on, as opposed to
 * where its agents run: its own process, whether another corral process (an owner, a cleanup's
 * claimer) still lives, and an agent server's ancestry. A process is named by pid and start
 * time for its whole life, never by pid alone.
 */
export type { LoopbackPeer, ProcessIdentity };

export const sameProcess = same;

/** This process, or null where /proc cannot be read (corral needs Linux with /proc). */
export function thisProcess(): ProcessIdentity | null {
  return identify(process.pid);
}

/** Whether the process named still runs: false once it exited or its pid names another. */
export function stillRunning(process: ProcessIdentity): boolean {
  return isAlive(process);
}

/** The process and its ancestors, nearest first: who an agent server runs inside. */
export function ancestry(pid: number): ProcessIdentity[] {
  return ancestorsOf(pid);
}

/**
 * Who holds the client end of a loopback connection made to this process, looked for among
 * `root` and its descendants: `unseen` when /proc shows no such connection (it closed, or the
 * client is in another network namespace), `outside` when none of them holds it.
 */
export type ConnectionHolder = { readonly found: "holder"; readonly process: ProcessIdentity } | { readonly found: "unseen" | "outside" };

export function connectionHolder(peer: LoopbackPeer, root: ProcessIdentity): ConnectionHolder {
  const inode = clientSocketInode(peer);
  if (inode === null) return { found: "unseen" };
  const holder = socketHolder(inode, treeOf(root));
  return holder === null ? { found: "outside" } : { found: "holder", process: holder };
}

export type DiscoveryCheck = { readonly level: "ok" | "warn" | "fail"; readonly detail: string };

/**
 * How this machine finds a local agent's processes: its own cgroup where a v2 hierarchy is
 * writable, else tini's tree while tini lives, else a sweep; and what the fallbacks miss.
 */
export function localDiscovery(config: Config, tini: string | null): DiscoveryCheck {
  const cgroups = config.cgroups === "off" ? null : Cgroups.open(config.home);
  if (cgroups !== null && cgroups.ok) {
    const controllers = cgroups.value.controllers.join(" ") || "none, so no memory or pids metering or caps";
    return { level: "ok", detail: `cgroup: each agent in a cgroup of its own under ${cgroups.value.parent} (controllers: ${controllers})` };
  }
  const why = cgroups === null ? "cgroups=off" : cgroups.error.message;
  if (config.cgroups === "on") return { level: "fail", detail: `cgroups=on but ${why}` };
  const blind = blindSpots("sweep").join("; ");
  if (tini !== null && config.subreaper !== "none") {
    return { level: "warn", detail: `tini's tree while tini lives, then a sweep, blind to ${blind} (no cgroup: ${why})` };
  }
  return { level: "warn", detail: `sweep, blind to ${blind} (no cgroup: ${why}; no tini)` };
}
