import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

/**
 * The package a user installs: `npm pack` of the built tree, installed globally into a prefix
 * of its own, then run from there as a user would, far from the checkout and its devDependencies.
 */
const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
/** A minute or two where better-sqlite3 compiles; more on a machine busy with other work. */
const INSTALL_MS = 360_000;

let dir = "";
let bin = "";
let installed = "";

/**
 * The environment npm runs in: no npm_* variables from an `npm test` around this one (they
 * would point it at the checkout), a HOME of its own, but the user's npm settings (registry,
 * CA file, node headers for node-gyp) and cache, so that it can take what `npm ci` fetched.
 */
async function npmEnv(): Promise<NodeJS.ProcessEnv> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  const { stdout } = await exec("npm", ["config", "get", "cache", "userconfig"], { env: { ...clean, HOME: userInfo().homedir } });
  const settings = Object.fromEntries(stdout.trim().split("\n").map((line) => line.split(/=(.*)/s).slice(0, 2)));
  return {
    ...clean,
    HOME: join(dir, "home"),
    npm_config_cache: settings.cache,
    ...(existsSync(settings.userconfig ?? "") ? { npm_config_userconfig: settings.userconfig } : {}),
    // Where node-gyp keeps node's headers when npm has no nodedir: the user's, as npm ci used.
    npm_config_devdir: join(userInfo().homedir, ".cache", "node-gyp"),
    npm_config_logs_dir: join(dir, "npm-logs"),
    npm_config_update_notifier: "false",
    // node-gyp compiles SQLite and its binding side by side, on every core.
    JOBS: "max",
  };
}

/** The installed corral, with a HOME and a state dir of the test's. */
function corralEnv(): NodeJS.ProcessEnv {
  return { ...process.env, HOME: join(dir, "home"), CORRAL_HOME: join(dir, "state") };
}

beforeAll(async () => {
  dir = mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "pack-"));
  mkdirSync(join(dir, "home"));
  const env = await npmEnv();
  // --ignore-scripts: the tree is built already, and `prepare` would rebuild dist under other tests.
  const packed = await exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: ROOT, env });
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  const prefix = join(dir, "prefix");
  await exec("npm", ["install", "--global", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", join(dir, filename)], {
    cwd: dir,
    env,
    timeout: INSTALL_MS,
  });
  bin = join(prefix, "bin", "corral");
  installed = join(prefix, "lib", "node_modules", "corral");
}, INSTALL_MS + 30_000);

describe("the npm package", () => {
  it("holds the build of src and the README: no tests, bench, sources or source maps", async () => {
    const { stdout } = await exec("tar", ["tzf", join(dir, `corral-${version}.tgz`)]);
    const files = stdout.trim().split("\n").map((f) => f.replace(/^package\//, ""));
    expect(files).toContain("dist/src/cli/main.js");
    expect(files).toContain("dist/src/demo/model-server/index.js");
    expect(files).toContain("README.md");
    expect(files.filter((f) => !(f.startsWith("dist/src/") && f.endsWith(".js"))).sort()).toEqual(["README.md", "package.json"]);
  });

  it("installs globally with its runtime dependencies only, and its bin starts with a shebang", () => {
    expect(readFileSync(join(installed, "dist", "src", "cli", "main.js"), "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
    expect(existsSync(join(installed, "node_modules", "better-sqlite3"))).toBe(true);
    for (const dev of ["typescript", "vitest", "@anthropic-ai/claude-code"]) expect(existsSync(join(installed, "node_modules", dev))).toBe(false);
  });

  it("prints its version from the installed bin", async () => {
    const { stdout } = await exec(bin, ["--version"], { env: corralEnv() });
    expect(stdout.trim()).toBe(version);
  });

  it("doctor passes from the installed bin, on a state dir of its own", async () => {
    const { stdout } = await exec(bin, ["doctor"], { env: corralEnv() });
    expect(stdout).toMatch(/^ok {4}database: schema version \d+$/m);
    expect(stdout).toMatch(/corral is ready\n$/);
  });

  it("serve answers an MCP handshake and tools/list, with nothing but MCP messages on stdout, and exits 0 when stdin ends", async () => {
    const serve = spawn(bin, ["serve"], { env: corralEnv(), stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => serve.once("exit", (code) => resolve(code)));
    const lines = createInterface({ input: serve.stdout })[Symbol.asyncIterator]();
    const send = (message: object): void => void serve.stdin.write(`${JSON.stringify(message)}\n`);
    const next = async (): Promise<{ jsonrpc: string; id?: number; result?: Record<string, unknown> }> => JSON.parse((await lines.next()).value as string);

    send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "pack-test", version: "1" } } });
    const initialized = await next();
    expect(initialized).toMatchObject({ jsonrpc: "2.0", id: 1, result: { serverInfo: { name: "corral", version } } });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    const listed = await next();
    expect(listed).toMatchObject({ jsonrpc: "2.0", id: 2 });
    expect((listed.result?.tools as { name: string }[]).map((t) => t.name)).toContain("deploy_headless_agent");

    serve.stdin.end();
    expect(await exited).toBe(0);
    expect((await lines.next()).done).toBe(true);
  });
});
