import { execFile } from "node:child_process";
import { mkdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { Command } from "commander";
import { describeUnknown } from "../../domain/errors.js";
import { anyLimit, limitsOf } from "../../domain/resource-limits.js";
import { loadConfig } from "../../lifecycle/config-loader.js";
import type { Backend } from "../../backends/backend.js";
import { createBackends, DEFAULT_BACKEND } from "../../backends/registry.js";
import { envName, type Config, type Containment, type RunnerKind } from "../../domain/config.js";
import { corralEntry } from "../../lifecycle/self.js";
import { findBwrap } from "../../runners/bwrap.js";
import { findExecutable } from "../../runners/executables.js";
import { localDiscovery, thisProcess } from "../../runners/host.js";
import { findTmuxTools, TMUX_MISSING } from "../../runners/tmux/tools.js";
import { SCHEMA_VERSION } from "../../store/migrations.js";
import { Store } from "../../store/store.js";
import { paint } from "../format.js";
import { createLogger } from "../../lifecycle/logger.js";
import { PendingRecords, spareJournalDir } from "../../lifecycle/pending-records.js";
import { inspectToken } from "../../mcp/http/token.js";

const run = promisify(execFile);

interface Check {
  readonly name: string;
  readonly level: "ok" | "warn" | "fail";
  readonly detail: string;
}

const ok = (name: string, detail: string): Check => ({ name, level: "ok", detail });
const warn = (name: string, detail: string): Check => ({ name, level: "warn", detail });
const bad = (name: string, detail: string): Check => ({ name, level: "fail", detail });

function checkNode(): Check {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 20 || (major === 20 && minor >= 19)
    ? ok("node", process.version)
    : bad("node", `${process.version}: corral needs Node.js 20.19 or later`);
}

/**
 * Whether each backend can run here: the program it would start (resolved on PATH) and its
 * version. The default backend missing is a failure, since a deploy that names no backend
 * needs it; another one missing is a warning.
 */
async function checkBackends(c: Config): Promise<Check[]> {
  const backends = createBackends(c.backends, { agentServer: { command: process.execPath, args: [corralEntry(), "serve", "--agent"], home: c.home } });
  if (!backends.ok) return [bad("backends", backends.error.message)];
  return Promise.all([...backends.value.values()].map((backend) => checkBackend(backend, backend.name === DEFAULT_BACKEND)));
}

async function checkBackend(backend: Backend, isDefault: boolean): Promise<Check> {
  const name = `backend ${backend.name}`;
  const role = isDefault ? " (the default)" : "";
  const { executable } = backend;
  if (executable.kind === "per-deploy") return ok(name, `runs the argv each deploy gives${role}`);
  const found = findExecutable(executable.program, process.env.PATH);
  const setting = `${envName(executable.setting)} (${executable.setting.join(".")} in the config file)`;
  if (found === null) {
    const where = executable.program.includes("/") ? executable.program : `${executable.program} on PATH`;
    const impact = isDefault ? "it is the default backend, so a deploy that names no backend and gives no argv fails" : "deploys with this backend fail";
    return (isDefault ? bad : warn)(name, `would run ${where}, which is not found: ${impact}; ${executable.install}, or set ${setting} to its path`);
  }
  try {
    const { stdout } = await run(found, [...executable.versionArgs], { timeout: 15_000 });
    return ok(name, `${found}: ${stdout.trim()}${role}`);
  } catch (cause) {
    return bad(name, `${found} ${executable.versionArgs.join(" ")} failed: ${describeUnknown(cause)}; reinstall it (${executable.install}), or set ${setting} to a working one`);
  }
}

/** tmux 3.0 added the argv form of new-session, which the tmux runner uses. */
async function checkTmux(runner: RunnerKind): Promise<Check> {
  const tools = findTmuxTools(process.env.PATH);
  const missing = runner === "tmux" ? bad : warn;
  if (tools === null) return missing("tmux", `${TMUX_MISSING}: agents cannot run in tmux, and corral attach cannot work`);
  try {
    const { stdout } = await run(tools.tmux, ["-V"], { timeout: 15_000 });
    const [major = 0] = /(\d+)\.\d+/.exec(stdout)?.slice(1).map(Number) ?? [];
    if (major < 3) return missing("tmux", `${tools.tmux}: ${stdout.trim()}; the tmux runner needs tmux 3.0 or later`);
    return ok("tmux", `${tools.tmux}: ${stdout.trim()}`);
  } catch (cause) {
    return bad("tmux", `${tools.tmux} -V failed: ${describeUnknown(cause)}`);
  }
}

/** How this machine finds a local agent's processes, and what that way cannot see. */
function checkProcesses(c: Config, tini: string | null): Check {
  return { name: "processes", ...localDiscovery(c, tini) };
}

/** none is a choice, not a problem; bwrap that cannot make a sandbox here is. */
function checkContainment(containment: Containment): Check {
  const bwrap = findBwrap(process.env.PATH);
  if (containment === "none") {
    return ok("containment", `none: agents can read and write everything you can${bwrap.ok ? `; ${bwrap.value} works here: set CORRAL_CONTAINMENT=bwrap to contain them` : ""}`);
  }
  if (bwrap.ok) return ok("containment", `bwrap: ${bwrap.value}`);
  return (containment === "bwrap" ? bad : warn)("containment", `${containment}, but ${bwrap.error.message}: agents ${containment === "bwrap" ? "cannot start" : "run uncontained"}`);
}

function checkStateDir(home: string, minFreeMb: number): Check {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const probe = join(home, `.doctor-${process.pid}`);
    writeFileSync(probe, "ok", { mode: 0o600 });
    rmSync(probe);
  } catch (cause) {
    return bad("state dir", `${home} is not writable: ${describeUnknown(cause)}; fix its permissions or set CORRAL_HOME`);
  }
  const stats = statfsSync(home);
  const freeMb = Math.floor((stats.bavail * stats.bsize) / (1024 * 1024));
  if (freeMb < minFreeMb) return bad("state dir", `${home}: only ${freeMb} MB free, below minFreeMb=${minFreeMb}: deploys are refused; run corral gc`);
  return ok("state dir", `${home} (${freeMb} MB free)`);
}

/** A corral writing holds the lock for milliseconds: only a lock held across this long is reported. */
const LOCK_RECHECK_MS = 250;

async function checkDatabase(home: string): Promise<Check[]> {
  const store = Store.open(join(home, "corral.db"));
  if (!store.ok) return [bad("database", `${store.error.code}: ${store.error.message}`)];
  try {
    const checks = [ok("database", `schema version ${SCHEMA_VERSION}`)];
    let writable = store.value.writableNow();
    if (!writable) {
      await sleep(LOCK_RECHECK_MS);
      writable = store.value.writableNow();
    }
    checks.push(writable ? ok("database lock", "free: writes go through") : bad("database lock", store.value.lockedError().message));
    const pending = new PendingRecords(join(home, "pending"), createLogger("silent"), spareJournalDir(home)).list().length;
    if (pending > 0) {
      checks.push(warn("pending ends", `${pending} agents' ends wait in the journal (${join(home, "pending")}, or the spare one in /dev/shm) for the database; corral serve records them once the database takes writes (it reconciles at start and every reconcileMs)`));
    }
    return checks;
  } finally {
    store.value.close();
  }
}

/** Every check with what to do about each problem. Exit code 1 when any check fails. */
export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check what corral needs (node, /proc, tini, cgroups, prlimit, tmux, bubblewrap, each backend's CLI and its version, the state dir, the database) and say what to do about each problem")
    .action(async () => {
      const checks: Check[] = [checkNode()];
      checks.push(thisProcess() === null ? bad("/proc", "cannot read /proc: corral needs Linux with /proc mounted") : ok("/proc", "readable"));
      const config = loadConfig();
      if (!config.ok) {
        checks.push(bad("configuration", config.error.message));
      } else {
        const c = config.value;
        checks.push(ok("configuration", `state dir ${c.home}`));
        const tini = findExecutable("tini", process.env.PATH);
        checks.push(
          tini !== null
            ? ok("tini", tini)
            : c.subreaper === "tini"
              ? bad("tini", "subreaper=tini but tini is not on PATH: apt-get install tini")
              : warn("tini", "not on PATH: agents run without a subreaper, and a descendant that calls setsid and clears its environment can outlive an agent that exits; apt-get install tini"),
        );
        checks.push(checkProcesses(c, tini));
        const prlimit = findExecutable("prlimit", process.env.PATH);
        if (anyLimit(limitsOf(c))) checks.push(prlimit !== null ? ok("prlimit", prlimit) : bad("prlimit", "agent limits are set but prlimit is not on PATH: install util-linux"));
        checks.push(await checkTmux(c.runner));
        checks.push(checkContainment(c.containment));
        checks.push(...(await checkBackends(c)));
        const dir = checkStateDir(c.home, c.minFreeMb);
        checks.push(dir);
        if (dir.level !== "fail") checks.push(...(await checkDatabase(c.home)));
        const token = inspectToken(c.home);
        checks.push(token.ok ? ok("http token", token.value) : warn("http token", `${token.error.message} (only serve --http needs it)`));
      }
      const mark = { ok: paint("ok  ", "green"), warn: paint("warn", "yellow"), fail: paint("FAIL", "red") };
      for (const check of checks) process.stdout.write(`${mark[check.level]}  ${check.name}: ${check.detail}\n`);
      const failed = checks.filter((c) => c.level === "fail").length;
      process.stdout.write(failed === 0 ? "corral is ready\n" : `${failed} problem${failed === 1 ? "" : "s"} to fix\n`);
      process.exitCode = failed === 0 ? 0 : 1;
    });
}
