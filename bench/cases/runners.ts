import { setTimeout as sleep } from "node:timers/promises";
import { RUNNER_KINDS, type RunnerKind } from "../../src/domain/config.js";
import { unwrap } from "../../src/domain/errors.js";
import { SLEEPER } from "../agents.js";
import { ms, round, summarize, timed, type Bench, type Summary } from "../harness.js";

/** Each runner's deploy, kill and short life, measured in one run so their ratio means something. */
export async function benchRunners(bench: Bench): Promise<void> {
  const measured = new Map<RunnerKind, { deploy: Summary; kill: Summary; life: Summary }>();
  for (const runner of RUNNER_KINDS) {
    measured.set(
      runner,
      await bench.withCorral({ runner, maxAgentsPerTask: 1000 }, async (corral) => {
        const task = unwrap(corral.createTask({ description: `bench ${runner}` }));
        const deploys: number[] = [];
        const kills: number[] = [];
        const lives: number[] = [];
        for (let i = 0; i < 30; i += 1) {
          const deployed = await timed(() => corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: SLEEPER }));
          const agent = unwrap(deployed.value);
          deploys.push(deployed.ms);
          await sleep(20);
          const killed = await timed(() => corral.kill(agent.id));
          kills.push(killed.ms);
          const cleanup = unwrap(killed.value).cleanup;
          if (cleanup.status !== "done") throw new Error(`cleanup of ${agent.id} is ${cleanup.status}`);
          const life = await timed(async () => corral.whenCleaned(unwrap(await corral.deploy({ taskId: task.id, agentType: "bench", prompt: "p", command: ["true"] })).id));
          lives.push(life.ms);
          if (life.value.cleanupStatus !== "done") throw new Error(`cleanup of ${life.value.id} is ${life.value.cleanupStatus}`);
        }
        return { deploy: summarize(deploys), kill: summarize(kills), life: summarize(lives) };
      }),
    );
  }
  const plain = measured.get("process")!;
  const tmux = measured.get("tmux")!;
  const versus = (a: Summary, b: Summary): string => `${ms(a)}; ×${round(a.median / b.median)} of the process runner's`;
  bench.record("tmux runner: deploy → running", versus(tmux.deploy, plain.deploy), "median ≤ 50 ms", tmux.deploy.median <= 50, { tmux: tmux.deploy, process: plain.deploy });
  bench.record("tmux runner: kill → verified clean, session closed", versus(tmux.kill, plain.kill), "median ≤ 100 ms", tmux.kill.median <= 100, { tmux: tmux.kill, process: plain.kill });
  bench.record("tmux runner: `true` from deploy to cleaned", versus(tmux.life, plain.life), "median ≤ 150 ms", tmux.life.median <= 150, { tmux: tmux.life, process: plain.life });
}
