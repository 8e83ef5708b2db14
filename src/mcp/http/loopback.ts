import { isIPv4 } from "node:net";

/**
 * Which names reach this machine only: what a server listening for its own user may be called,
 * and which pages may call it. A browser page on another site can still make a request to
 * 127.0.0.1 (DNS rebinding: a name of the attacker's resolving to loopback), but its Host then
 * names the attacker's site, and its Origin is not loopback.
 */
export function isLoopback(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare === "localhost" || bare === "::1") return true;
  return isIPv4(bare) && bare.startsWith("127.");
}

/** The names a Host header may give for a listener on `bound`: the loopback ones, and the bound address itself. */
function namesFor(bound: string): Set<string> {
  const names = new Set(["localhost", "127.0.0.1", "[::1]"]);
  names.add(bound.includes(":") ? `[${bound}]` : bound);
  return names;
}

/** Whether a Host header names the listener bound to `bound`:`port` (its port included). */
export function hostAllowed(header: string | undefined, bound: string, port: number): boolean {
  if (header === undefined) return false;
  const parsed = parseAuthority(header);
  if (parsed === null) return false;
  return namesFor(bound).has(parsed.hostname) && (parsed.port === "" ? "80" : parsed.port) === String(port);
}

/** Whether an Origin header is a page on this machine (any port): `null` and other sites are not. */
export function originAllowed(header: string): boolean {
  let url: URL;
  try {
    url = new URL(header);
  } catch (cause) {
    if (!(cause instanceof TypeError)) throw cause;
    return false;
  }
  return (url.protocol === "http:" || url.protocol === "https:") && isLoopback(url.hostname);
}

function parseAuthority(authority: string): { hostname: string; port: string } | null {
  // Only a host and a port: anything that would make the URL parser read a user or a path is refused.
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(authority)) return null;
  try {
    const url = new URL(`http://${authority}`);
    return { hostname: url.hostname, port: url.port };
  } catch (cause) {
    if (!(cause instanceof TypeError)) throw cause;
    return null;
  }
}
