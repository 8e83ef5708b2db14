import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../../src/domain/config.js";
import { unwrap } from "../../src/domain/errors.js";
import { Cgroups } from "../../src/supervisor/cgroup.js";
import { childPids, readStat } from "../../src/supervisor/procfs.js";
import { SLEEPER } from "../agents.js";
import { ms, repeat, round, timed, type Bench, type Summary } from "../harness.js";

/** 1,000 sleeping processes that are none of corral's business. */
async function startCrowd(): Promise<ChildProcess> {
  const crowd = spawn("bash", ["-c", "for i in $(seq 1000); do sleep 600 & done; echo ready; wait"], {
    stdio: ["ignore", "pipe", "ignore"],
    detached: true,
  });
  await new Promise((resolve) => crowd.stdout?.once("data", resolve));
  return crowd;
}

/** Kills the crowd and waits until init has reaped it, so its zombies do not weigh on the next figure. */
async function stopCrowd(crowd: ChildProcess): Promise<void> {
  const members = childPids(crowd.pid as number);
  process.kill(-(crowd.pid as number), "SIGKILL");
  await new Promise((resolve) => crowd.once("close", resolve));
  while (members.some((pid) => readStat(pid) !== null)) await sleep(50);
}

async function killToClean(bench: Bench, overrides: Partial<Config>, samples: number): Promise<Summary> {
  return bench.withCorral(overrides, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench kill" }));
    return repeat(samples, async () => {
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER }));
      await sleep(20);
      const killed = await timed(() => corral.kill(agent.id));
      const cleanup = unwrap(killed.value).cleanup;
      if (cleanup.status !== "done") throw new Error(`cleanup of ${agent.id} is ${cleanup.status}`);
      return killed.ms;
    });
  });
}

/** The ways an agent's processes are found: its cgroup (where the host gives one), tini's tree, a sweep. */
const CONTAINMENTS = [
  ["cgroup", { cgroups: "on", subreaper: "auto" }],
  ["tini", { cgroups: "off", subreaper: "auto" }],
  ["no subreaper", { cgroups: "off", subreaper: "none" }],
] as const;

/**
 * From kill to a verified-clean agent: a cooperative one under each containment, with and
 * without a crowd of other processes; one that ignores SIGTERM; one that is stopped.
 */
export async function benchKill(bench: Bench): Promise<void> {
  for (const [label, overrides] of CONTAINMENTS) {
    if (label === "cgroup" && !Cgroups.open(join(bench.scratch, "cgroup-probe")).ok) {
      process.stderr.write("  (no writable cgroup v2 hierarchy here: the cgroup rows are left out)\n");
      continue;
    }
    const quiet = await killToClean(bench, overrides, 30);
    const crowd = await startCrowd();
    let busy: Summary;
    try {
      busy = await killToClean(bench, overrides, 30);
    } finally {
      await stopCrowd(crowd);
    }
    bench.record(`kill → verified clean, cooperative (${label}), 0 other processes`, ms(quiet), "median ≤ 50 ms", quiet.median <= 50, quiet);
    bench.record(
      `kill → verified clean, cooperative (${label}), 1,000 other processes`,
      `${ms(busy)}; ×${round(busy.median / quiet.median)} of the quiet median`,
      "median ≤ 50 ms",
      busy.median <= 50,
      busy,
    );
  }
  const graceMs = 500;
  const stubborn = await bench.withCorral({ graceMs }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench stubborn" }));
    return repeat(5, async () => {
      const agent = unwrap(
        await corral.deploy({ taskId: task.id, agentType: "stubborn", prompt: "p", command: ["bash", "-c", "trap '' TERM; while :; do sleep 0.05; done"] }),
      );
      await sleep(50);
      const killed = await timed(() => corral.kill(agent.id));
      unwrap(killed.value);
      return killed.ms;
    });
  });
  bench.record(
    `kill → verified clean, SIGTERM ignored (grace ${graceMs} ms)`,
    ms(stubborn),
    `median ≤ ${graceMs + 100} ms`,
    stubborn.median <= graceMs + 100,
    { graceMs, ...stubborn },
  );
  // A stopped agent keeps its SIGTERM pending until continued: without the SIGCONT that
  // follows it, this would cost the whole grace period.
  const stoppedGraceMs = 5000;
  const stopped = await bench.withCorral({ graceMs: stoppedGraceMs, subreaper: "none" }, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench stopped" }));
    return repeat(10, async () => {
      const agent = unwrap(
        await corral.deploy({ taskId: task.id, agentType: "stopped", prompt: "p", command: ["bash", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"] }),
      );
      await sleep(50);
      const pid = agent.process?.pid as number;
      process.kill(pid, "SIGSTOP");
      while (readStat(pid)?.state !== "T") await sleep(1);
      const killed = await timed(() => corral.kill(agent.id));
      if (unwrap(killed.value).cleanup.steps.find((s) => s.step === "terminate")?.detail.escalated !== false) throw new Error(`${agent.id} needed SIGKILL`);
      return killed.ms;
    });
  });
  bench.record(
    `kill → verified clean, SIGSTOPped agent that handles SIGTERM (grace ${stoppedGraceMs} ms)`,
    ms(stopped),
    "median ≤ 100 ms",
    stopped.median <= 100,
    { graceMs: stoppedGraceMs, ...stopped },
  );
}
