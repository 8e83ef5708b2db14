import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KeeperWatch } from "../src/runners/tmux/exit-watch.js";
import { identify, isAlive, type ProcessIdentity } from "../src/supervisor/identity.js";

const started: ChildProcess[] = [];
afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
});

/** A process standing in for a pane's keeper, and the status file it would write. */
function keeper(): { identity: ProcessIdentity; statusFile: string; child: ChildProcess } {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  started.push(child);
  const identity = identify(child.pid as number);
  if (identity === null) throw new Error("the stand-in keeper did not start");
  const statusFile = join(mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "keeper-")), "tmux-exit-status");
  return { identity, statusFile, child };
}

describe("watching tmux keepers for their agents' ends", () => {
  it("is over once the keeper wrote its status file, without waiting for the keeper", async () => {
    const watch = new KeeperWatch();
    const { identity, statusFile } = keeper();
    const ended = watch.ended(identity, statusFile);
    writeFileSync(statusFile, "0\n");
    await ended;
    expect(isAlive(identity)).toBe(true);
  });

  it("sees a keeper that is gone without writing a status file", async () => {
    const watch = new KeeperWatch();
    const { identity, statusFile, child } = keeper();
    const ended = watch.ended(identity, statusFile);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    await ended;
    expect(isAlive(identity)).toBe(false);
  });

  it("watches many keepers at once and lets each go on its own", async () => {
    const watch = new KeeperWatch();
    const [first, second] = [keeper(), keeper()];
    let secondOver = false;
    void watch.ended(second.identity, second.statusFile).then(() => (secondOver = true));
    const firstEnded = watch.ended(first.identity, first.statusFile);
    writeFileSync(first.statusFile, "3\n");
    await firstEnded;
    expect(secondOver).toBe(false);
    writeFileSync(second.statusFile, "0\n");
    await watch.ended(second.identity, second.statusFile);
    expect(secondOver).toBe(true);
  });
});
