import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { findExecutable } from "../src/runners/executables.js";
import { identify, isAlive, signalProcess, statOf, type ProcessIdentity } from "../src/supervisor/identity.js";
import { parseStat, readStat } from "../src/supervisor/procfs.js";
import { terminate } from "../src/supervisor/terminate.js";
import { agentScope } from "./helpers/builders.js";
import { taggedProcesses } from "./helpers/leak-guard.js";

const started: ChildProcess[] = [];
afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }
});

function start(argv: string[]): { child: ChildProcess; identity: ProcessIdentity } {
  const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: "ignore" });
  started.push(child);
  const stat = readStat(child.pid!);
  if (stat === null) throw new Error("no stat for a process just started");
  return { child, identity: { pid: child.pid!, startTime: stat.startTime } };
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));

describe("/proc parsing", () => {
  it("reads a command name that holds spaces and parentheses", () => {
    const stat = parseStat(42, "42 (a b) (c)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0");
    expect(stat).toMatchObject({ pid: 42, comm: "a b) (c)", state: "S", ppid: 1, pgrp: 42, session: 42, startTime: "987654" });
  });

  it("treats a zombie as not alive", async () => {
    // A child that exits before its parent reaps it stays a zombie; node reaps it only when
    // its exit event is processed, so read the state synchronously while it can still be Z.
    const { child, identity } = start(["true"]);
    await sleep(50);
    const stat = readStat(identity.pid);
    if (stat !== null) expect(stat.state).toBe("Z");
    expect(isAlive(identity)).toBe(false);
    await exited(child);
  });
});

describe("process identity", () => {
  it("never signals a pid whose start time names another process", async () => {
    const { child, identity } = start(["sleep", "300"]);
    const impostor = { pid: identity.pid, startTime: String(BigInt(identity.startTime) - 1n) };
    expect(signalProcess(impostor, "SIGKILL")).toBe("gone");
    const report = await terminate(agentScope(impostor), { graceMs: 100 });
    expect(report.signalled).toEqual([]);
    expect(isAlive(identity)).toBe(true);
    child.kill("SIGKILL");
    await exited(child);
  });

  const nsLastPid = "/proc/sys/kernel/ns_last_pid";
  const canSteerPids = (() => {
    try {
      accessSync(nsLastPid, constants.W_OK);
      return true;
    } catch (cause) {
      if ((cause as { code?: unknown }).code === "EACCES" || (cause as { code?: unknown }).code === "EROFS") return false;
      return false;
    }
  })();

  it.skipIf(!canSteerPids)("leaves alone an unrelated process that took over a dead agent's pid", async () => {
    const first = start(["sleep", "300"]);
    first.child.kill("SIGKILL");
    await exited(first.child);
    // Start times count clock ticks (10 ms): a pid wrapped round within one tick is beyond
    // what a machine can do unaided, so let one pass before forcing the reuse.
    await sleep(30);
    // Steer the kernel into handing the same pid to an unrelated process, for real. Other
    // test files fork at the same time and can take the pid first: try until one lands.
    let second: { child: ChildProcess; identity: ProcessIdentity } | null = null;
    for (let attempt = 0; attempt < 500 && second === null; attempt += 1) {
      writeFileSync(nsLastPid, String(first.identity.pid - 1));
      const candidate = start(["sleep", "300"]);
      if (candidate.identity.pid === first.identity.pid) second = candidate;
      else candidate.child.kill("SIGKILL");
    }
    if (second === null) throw new Error("the kernel did not reuse the pid");
    expect(second.identity.startTime).not.toBe(first.identity.startTime);
    const report = await terminate(agentScope(first.identity, { mark: "CORRAL_MARK=gone" }), { graceMs: 100 });
    expect(report.signalled).toEqual([]);
    expect(isAlive(second.identity)).toBe(true);
  });
});

describe("termination under tini", () => {
  const tini = findExecutable("tini", process.env.PATH);

  it.skipIf(tini === null)("catches the child of a subreaper that was stopped before it could start it", async () => {
    const mark = `CORRAL_MARK=early-${process.pid}`;
    const child = spawn(tini as string, ["-s", "-g", "--", "sleep", "300"], {
      detached: true,
      stdio: "ignore",
      env: { ...process.env, CORRAL_MARK: mark.split("=")[1] },
    });
    started.push(child);
    // Stop it in the same tick it was started: it has had no chance to fork yet.
    process.kill(child.pid!, "SIGSTOP");
    const stat = readStat(child.pid!)!;
    const root = { pid: child.pid!, startTime: stat.startTime };
    const report = await terminate(agentScope(root, { sid: stat.session, subreaper: true, mark }), { graceMs: 200 });
    await exited(child);
    expect(report.survivors).toEqual([]);
    expect(taggedProcesses().filter((pid) => readStat(pid)?.comm === "sleep")).toEqual([]);
  });

  it.skipIf(tini === null)("reports the agent's own exit status through tini after a kill", async () => {
    const child = spawn(tini as string, ["-s", "-g", "--", "sleep", "300"], { detached: true, stdio: "ignore" });
    started.push(child);
    await sleep(50);
    const stat = readStat(child.pid!)!;
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const report = await terminate(
      agentScope({ pid: child.pid!, startTime: stat.startTime }, { sid: stat.session, subreaper: true, mark: "CORRAL_MARK=x" }),
      { graceMs: 1000 },
    );
    expect(report.method).toBe("tree");
    expect(report.escalated).toBe(false);
    // sleep died of SIGTERM (15): tini exits 128 + 15.
    expect(await exit).toBe(143);
  });
});

describe("identify", () => {
  it("names this process and nothing that is gone", () => {
    expect(identify(process.pid)?.pid).toBe(process.pid);
    expect(statOf({ pid: process.pid, startTime: "0" })).toBeNull();
    expect(identify(2 ** 22 + 1)).toBeNull();
  });
});
