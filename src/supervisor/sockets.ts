import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { ProcessIdentity } from "./identity.js";
import { isGone } from "./procfs.js";

/** One end of a TCP connection over IPv4 loopback, as this process sees it. */
export interface LoopbackPeer {
  /** The port the connection came in on (ours). */
  readonly serverPort: number;
  /** The port it came from (the client's). */
  readonly clientPort: number;
}

/** The client's address as /proc/net/tcp writes 127.0.0.1 (little-endian hex), and its state column for ESTABLISHED. */
const LOOPBACK_HEX = "0100007F";
const ESTABLISHED = "01";

/**
 * The inode of the client's socket of a loopback connection, from /proc/net/tcp: the line
 * whose local end is the client's port and whose remote end is ours. Null when no such
 * connection is established (it closed, or the client is in another network namespace,
 * where this table does not show it).
 */
export function clientSocketInode(peer: LoopbackPeer, table = readTcpTable()): number | null {
  const local = `${LOOPBACK_HEX}:${hexPort(peer.clientPort)}`;
  const remote = `${LOOPBACK_HEX}:${hexPort(peer.serverPort)}`;
  for (const line of table.split("\n")) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    if (fields[1] === local && fields[2] === remote && fields[3] === ESTABLISHED) {
      const inode = Number(fields[9]);
      return Number.isSafeInteger(inode) && inode > 0 ? inode : null;
    }
  }
  return null;
}

function readTcpTable(): string {
  return readFileSync("/proc/self/net/tcp", "utf8");
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * The first of `candidates` that holds the socket `inode` open. A forked child shares its
 * parent's descriptors, so several may hold it; any one of them is inside the same tree.
 */
export function socketHolder(inode: number, candidates: readonly ProcessIdentity[]): ProcessIdentity | null {
  const link = `socket:[${inode}]`;
  for (const candidate of candidates) {
    if (holds(candidate.pid, link)) return candidate;
  }
  return null;
}

function holds(pid: number, link: string): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (cause) {
    if (isGone(cause)) return false;
    throw cause;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === link) return true;
    } catch (cause) {
      // A descriptor closed between the listing and the look.
      if (!isGone(cause)) throw cause;
    }
  }
  return false;
}
