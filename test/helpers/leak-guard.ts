import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";
import { cgroupMembers, killCgroup, removeCgroup, stateDirCgroup } from "../../src/supervisor/cgroup.js";
import { childPids, environHas, listPids, readStat } from "../../src/supervisor/procfs.js";
import { leftoverTempFiles } from "./sandbox.js";

/**
 * Runs around every test file: the file gets its own HOME, CLAUDE_CONFIG_DIR, state dir and
 * tmux dir, and a tag in its environment that every process it starts inherits. Afterwards no
 * tagged process, no zombie child, no extra open descriptor, no temp file and no cgroup made for
 * one of its state dirs may remain.
 */
const tag = randomBytes(8).toString("hex");
const TAG_NAME = "CORRAL_TEST_TAG";
let root = "";
let fdsBefore = new Map<string, string>();

/** Open descriptors and what each points to, so a leak report names the file or pipe. */
function openFds(): Map<string, string> {
  const fds = new Map<string, string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      fds.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch (cause) {
      // The descriptor readdir itself used is closed by the time it is read.
      if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
    }
  }
  return fds;
}

export function taggedProcesses(): number[] {
  return listPids().filter((pid) => pid !== process.pid && environHas(pid, `${TAG_NAME}=${tag}`));
}

/**
 * The cgroups corral made for the file's state dirs (any dir up to two levels under its root)
 * that are still there. A process the file started that cleared its environment loses the
 * tag, but not its cgroup.
 */
function leftoverCgroups(): string[] {
  const dirs = [root];
  for (const depth of [0, 1]) {
    for (const dir of dirs.filter((d) => d.split("/").length === root.split("/").length + depth)) {
      for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(join(dir, entry.name));
    }
  }
  return dirs.flatMap((dir) => {
    const cgroup = stateDirCgroup(dir);
    return cgroup !== null && existsSync(cgroup) ? [cgroup] : [];
  });
}

function describeProcess(pid: number): string {
  const stat = readStat(pid);
  let mark = "none";
  try {
    mark = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").find((e) => e.startsWith("CORRAL_MARK=")) ?? "none";
  } catch (cause) {
    mark = `unreadable (${String((cause as { code?: unknown }).code)})`;
  }
  return `${pid} ${stat?.comm ?? "?"} ppid=${stat?.ppid} pgrp=${stat?.pgrp} sid=${stat?.session} ${mark}`;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "corral-test-"));
  process.env[TAG_NAME] = tag;
  process.env.HOME = join(root, "home");
  process.env.CLAUDE_CONFIG_DIR = join(root, "home", ".claude");
  process.env.TMUX_TMPDIR = join(root, "tmux");
  process.env.CORRAL_HOME = join(root, "corral");
  process.env.CORRAL_TEST_ROOT = root;
  process.env.CORRAL_LOG_LEVEL = "silent";
  // No 8 MB of reserved space in each of the many state dirs tests make; the disk test sets it.
  process.env.CORRAL_BALLAST_MB = "0";
  fdsBefore = openFds();
});

afterAll(async () => {
  const problems: string[] = [];
  try {
    let survivors = taggedProcesses();
    for (let i = 0; i < 100 && survivors.length > 0; i += 1) {
      await sleep(20);
      survivors = taggedProcesses();
    }
    if (survivors.length > 0) {
      problems.push(`processes survived the file: ${survivors.map(describeProcess).join(", ")}`);
      for (const pid of survivors) {
        try {
          process.kill(pid, "SIGKILL");
        } catch (cause) {
          if ((cause as { code?: unknown }).code !== "ESRCH") throw cause;
        }
      }
    }
    // Node reaps an exited child when its event loop handles SIGCHLD: give it the chance.
    const zombieChildren = (): number[] => childPids(process.pid).filter((pid) => readStat(pid)?.state === "Z");
    let zombies = zombieChildren();
    for (let i = 0; i < 100 && zombies.length > 0; i += 1) {
      await sleep(20);
      zombies = zombieChildren();
    }
    if (zombies.length > 0) problems.push(`zombie children: ${zombies.join(", ")}`);
    const fdsAfter = openFds();
    if (fdsAfter.size > fdsBefore.size) {
      const added = [...fdsAfter].filter(([fd, target]) => fdsBefore.get(fd) !== target).map(([fd, t]) => `${fd} → ${t}`);
      problems.push(`open descriptors grew from ${fdsBefore.size} to ${fdsAfter.size}: ${added.join(", ")}`);
    }
    for (const cgroup of leftoverCgroups()) {
      // A state dir's parent alone is corral's and holds nothing: a command that exits through
      // process.exit skips close(), and the next corral on that state dir removes it. An agent's
      // cgroup left in it is a leak.
      const agents = readdirSync(cgroup, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(cgroup, e.name));
      const inside = cgroupMembers(cgroup);
      if (agents.length > 0 || inside.length > 0) {
        problems.push(`cgroups left: ${agents.join(", ") || cgroup}${inside.length === 0 ? "" : ` holding ${inside.map((p) => describeProcess(p.pid)).join(", ")}`}`);
      }
      killCgroup(cgroup);
      for (let i = 0; i < 100 && cgroupMembers(cgroup).length > 0; i += 1) await sleep(20);
      removeCgroup(cgroup);
    }
    const temp = leftoverTempFiles(root);
    if (temp.length > 0) problems.push(`temp files left: ${temp.slice(0, 10).join(", ")}`);
  } finally {
    // Whatever happened above, the file's temp root goes.
    rmSync(root, { recursive: true, force: true });
  }
  if (problems.length > 0) throw new Error(`leak guard: ${problems.join("; ")}`);
});
