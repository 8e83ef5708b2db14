import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { signalled } from "./helpers/builders.js";
import { openCorral } from "./helpers/sandbox.js";

let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

async function deploy(c: Corral, script: string) {
  const task = unwrap(c.createTask({ description: "limits" }));
  return unwrap(await c.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["bash", "-c", script] }));
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i += 1) await sleep(20);
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

// The rules themselves (what is a warning, what is a limit reached) are checked without
// processes in resource-limit-rules.test.ts; these check them on real processes.
describe("resource limits on each agent process", () => {
  it("applies the open-file limit at launch, and warns past 80 % of it", async () => {
    corral = openCorral({ agentOpenFiles: 20 });
    // Descriptors 0-2, 3-16 and whatever the shell keeps: 17 or more of 20 open.
    const agent = await deploy(corral, 'ulimit -n; for fd in $(seq 3 16); do eval "exec $fd</dev/null"; done; echo ready; exec sleep 300');
    await until(() => readFileSync(agent.logPath, "utf8").includes("ready"), "the descriptors");
    expect(readFileSync(agent.logPath, "utf8").split("\n")[0]).toBe("20");
    const reaped = await corral.reap();
    expect(reaped.warned).toEqual([agent.id]);
    const flags = unwrap(corral.status(agent.taskId)).agents[0]?.flags ?? [];
    expect(flags.join("\n")).toMatch(/^open files at (8[5-9]|9[0-9]) % of agentOpenFiles=20 \(pid \d+\)$/m);
  });

  it("stops an agent that reaches its open-file limit, with a reason that names it", async () => {
    corral = openCorral({ agentOpenFiles: 20, graceMs: 200 });
    // At the limit nothing can start any more, not even sleep: the shell stops itself instead.
    const agent = await deploy(corral, 'for fd in $(seq 3 19); do eval "exec $fd</dev/null"; done; echo ready; kill -STOP $$');
    await until(() => readFileSync(agent.logPath, "utf8").includes("ready"), "the descriptors");
    expect((await corral.reap()).atLimit).toEqual([agent.id]);
    const row = corral.agent(agent.id)!;
    expect([row.status, row.cleanupStatus]).toEqual(["killed", "done"]);
    expect(row.reason).toMatch(/^pid \d+ reached its open-file limit \(agentOpenFiles=20\)$/);
  });

  it("stops an agent that uses up its CPU time, with a reason that says so", async () => {
    corral = openCorral({ agentCpuSeconds: 1 });
    const agent = await deploy(corral, "while :; do :; done");
    const ended = await corral.whenCleaned(agent.id, 20_000);
    expect([ended.status, ended.exit]).toEqual(["crashed", signalled("SIGXCPU")]);
    expect(ended.reason).toBe("it used up its CPU time limit (agentCpuSeconds=1)");
  });

  it("stops the agent with the largest log when its task's logs pass the task's disk budget", async () => {
    corral = openCorral({ taskDiskBudgetMb: 0.1 });
    const small = await deploy(corral, "head -c 20000 /dev/zero; exec sleep 300");
    const big = unwrap(
      await corral.deploy({ taskId: small.taskId, agentType: "w", prompt: "p", command: ["bash", "-c", "head -c 200000 /dev/zero; exec sleep 300"] }),
    );
    await until(() => readFileSync(big.logPath).length === 200_000 && readFileSync(small.logPath).length === 20_000, "the logs");
    expect((await corral.reap()).overDiskBudget).toEqual([big.id]);
    const stopped = corral.agent(big.id)!;
    expect([stopped.status, stopped.cleanupStatus]).toEqual(["killed", "done"]);
    expect(stopped.reason).toBe("its task's logs passed taskDiskBudgetMb=0.1 (this agent's log: 0.2 MB)");
    expect(corral.agent(small.id)?.status).toBe("running");
  });
});
