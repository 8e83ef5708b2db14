import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fstatSync, fsyncSync, linkSync, lstatSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { COORDINATOR_TOKEN_VARIABLE } from "../../backends/backend.js";
import { describeUnknown, fail, ok, type Result } from "../../domain/errors.js";

/** The variable that gives the coordinator's HTTP token; without it, the token file's is used. Agents never see it. */
export const TOKEN_VARIABLE = COORDINATOR_TOKEN_VARIABLE;
/** The token file's name under the state dir. */
export const TOKEN_FILE = "http-token";
/** Fewer characters than this is a token someone could guess: a made one has 43. */
export const MIN_TOKEN_CHARS = 32;

export interface HttpToken {
  readonly token: string;
  /** Where it came from: the variable, or the file (made now, or kept from before). */
  readonly source: { readonly kind: "env" } | { readonly kind: "file"; readonly path: string; readonly made: boolean };
}

export const tokenPath = (home: string): string => join(home, TOKEN_FILE);

/**
 * The bearer token HTTP clients of the coordinator must send: the variable's when set, else the
 * token file's, made once (32 random bytes, 0600) and kept for later starts, so a client
 * configured once keeps working. A file others can read, or one not owned by this user, is
 * refused rather than trusted or silently replaced.
 */
export function coordinatorToken(home: string, env: NodeJS.ProcessEnv = process.env): Result<HttpToken> {
  const given = env[TOKEN_VARIABLE];
  if (given !== undefined && given !== "") {
    const checked = checkToken(given, TOKEN_VARIABLE);
    return checked.ok ? ok({ token: checked.value, source: { kind: "env" } }) : checked;
  }
  const path = tokenPath(home);
  const made = makeTokenFile(path);
  if (!made.ok) return made;
  const read = readTokenFile(path);
  return read.ok ? ok({ token: read.value, source: { kind: "file", path, made: made.value } }) : read;
}

/**
 * Where `serve --http` would take its token from, or why it would refuse to start; makes
 * nothing (for doctor).
 */
export function inspectToken(home: string, env: NodeJS.ProcessEnv = process.env): Result<string> {
  const given = env[TOKEN_VARIABLE];
  if (given !== undefined && given !== "") {
    const checked = checkToken(given, TOKEN_VARIABLE);
    return checked.ok ? ok(`${TOKEN_VARIABLE} (serve --http)`) : checked;
  }
  const path = tokenPath(home);
  if (!existsSync(path)) return ok(`none yet: serve --http makes ${path} (0600)`);
  const read = readTokenFile(path);
  return read.ok ? ok(`${path} (serve --http)`) : read;
}

function checkToken(token: string, where: string): Result<string> {
  const trimmed = token.trim();
  if (trimmed.length < MIN_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(trimmed)) {
    return fail("CONFIG_INVALID", `${where} must hold at least ${MIN_TOKEN_CHARS} printable characters without spaces (e.g. openssl rand -base64 32)`);
  }
  return ok(trimmed);
}

/**
 * Makes the file with a fresh token unless it exists; true when it was made now. Written whole
 * under another name and then linked into place, which fails if the file exists: two corrals
 * starting together end with one token, and neither reads a file half written.
 */
function makeTokenFile(path: string): Result<boolean> {
  if (existsSync(path)) return ok(false);
  const draft = `${path}.${randomBytes(6).toString("hex")}.new`;
  try {
    const fd = openSync(draft, "wx", 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString("base64url")}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(draft, path);
    return ok(true);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "EEXIST") return ok(false);
    return fail("CONFIG_INVALID", `cannot make the HTTP token file ${path}: ${describeUnknown(cause)}`);
  } finally {
    rmSync(draft, { force: true });
  }
}

function readTokenFile(path: string): Result<string> {
  try {
    if (!lstatSync(path).isFile()) return fail("CONFIG_INVALID", `${path} is not a regular file: remove it, and corral makes a new token`);
    const fd = openSync(path, "r");
    try {
      const stat = fstatSync(fd);
      if (typeof process.getuid === "function" && stat.uid !== process.getuid()) {
        return fail("CONFIG_INVALID", `${path} belongs to another user (uid ${stat.uid}): remove it, and corral makes a new token`);
      }
      if ((stat.mode & 0o077) !== 0) {
        return fail(
          "CONFIG_INVALID",
          `${path} can be read by others (mode ${(stat.mode & 0o777).toString(8)}), so its token is no secret: run chmod 600 ${path} if nobody else read it, else remove it and give clients the new token`,
        );
      }
      return checkToken(readFileSync(fd, "utf8"), path);
    } finally {
      closeSync(fd);
    }
  } catch (cause) {
    return fail("CONFIG_INVALID", `cannot read the HTTP token file ${path}: ${describeUnknown(cause)}`);
  }
}
