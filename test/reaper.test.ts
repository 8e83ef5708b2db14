import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { isAlive } from "../src/supervisor/identity.js";
import { openCorral } from "./helpers/sandbox.js";

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

async function deploy(c: Corral, command: string[]) {
  const task = unwrap(c.createTask({ description: "reaper" }));
  return unwrap(await c.deploy({ taskId: task.id, agentType: "w", prompt: "p", command }));
}

const flagsOf = (c: Corral, taskId: string, agentId: string): string[] =>
  unwrap(c.status(taskId)).agents.find((a) => a.agentId === agentId)?.flags ?? [];

// The rules themselves are checked without processes in reap-plan.test.ts; these check that
// a reap reads real agents and carries its plan out.
describe("the reaper, on real agents", () => {
  it("ends an agent past the wall-clock limit as timed_out, and cleans it", async () => {
    corral = openCorral({ maxRuntimeMs: 200 });
    const agent = await deploy(corral, ["sleep", "300"]);
    expect((await corral.reap()).timedOut).toEqual([]);
    expect((await corral.reap(Date.now() + 300)).timedOut).toEqual([agent.id]);
    const row = corral.agent(agent.id)!;
    expect([row.status, row.cleanupStatus]).toEqual(["timed_out", "done"]);
    expect(row.reason).toMatch(/longer than maxRuntimeMs=200/);
    expect(isAlive({ pid: agent.process!.pid, startTime: agent.process!.startTime })).toBe(false);
  });

  it("flags an agent with no output and no progress, and lifts the flag when it reports again", async () => {
    corral = openCorral({ stuckMs: 500 });
    const quiet = await deploy(corral, ["sleep", "300"]);
    const chatty = await deploy(corral, ["bash", "-c", "while :; do echo tick; sleep 0.05; done"]);
    await sleep(800);
    expect((await corral.reap()).stuck).toEqual([quiet.id]);
    expect(flagsOf(corral, quiet.taskId, quiet.id).join()).toMatch(/it may be stuck/);
    expect(flagsOf(corral, chatty.taskId, chatty.id)).toEqual([]);
    expect(corral.agent(quiet.id)?.status).toBe("running");

    unwrap(await corral.report(quiet.id, { kind: "progress", status: "working", message: "still here" }));
    expect((await corral.reap()).stuck).toEqual([]);
    expect(flagsOf(corral, quiet.taskId, quiet.id)).toEqual([]);
  });

  it("kills a stuck agent with reason stuck when onStuck=terminate", async () => {
    corral = openCorral({ stuckMs: 200, onStuck: "terminate" });
    const agent = await deploy(corral, ["sleep", "300"]);
    expect((await corral.reap(Date.now() + 350)).stuck).toEqual([agent.id]);
    const row = corral.agent(agent.id)!;
    expect([row.status, row.cleanupStatus]).toEqual(["killed", "done"]);
    expect(row.reason).toMatch(/^stuck: no output and no progress for \d+ s \(stuckMs=200\)$/);
  });
});
