import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { corralEntry } from "../../src/lifecycle/self.js";
import { round, summarize, type Bench } from "../harness.js";

/** Each window's length and how many are taken: CORRAL_BENCH_IDLE_WINDOW_S, CORRAL_BENCH_IDLE_WINDOWS. */
const WINDOW_S = Number(process.env.CORRAL_BENCH_IDLE_WINDOW_S ?? 20);
const WINDOWS = Number(process.env.CORRAL_BENCH_IDLE_WINDOWS ?? 3);
const COUNTS = [0, 10, 30];
const GOAL = 0.3;

/**
 * What an idle coordinator costs: a real `corral serve` (watching: reconcile, reap, disk and
 * store checks all on) with 0, 10 and 30 agents that sleep for an hour, half on the process
 * runner and half on tmux, and no call arriving. Its CPU time (each thread's schedstat) is
 * read over windows of WINDOW_S after the deploys settle; the figure is the median window, as
 * CPU-seconds a minute.
 */
export async function benchIdleCpu(bench: Bench): Promise<void> {
  const perMinute: Record<string, number> = {};
  const windows: Record<string, number[]> = {};
  for (const count of COUNTS) {
    const home = bench.home("idle-");
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [corralEntry(), "serve"],
      env: { ...(process.env as Record<string, string>), CORRAL_HOME: home, CORRAL_LOG_LEVEL: "warn", CORRAL_MAX_CONCURRENT_AGENTS: "100", CORRAL_MAX_AGENTS_PER_TASK: "100" },
    });
    const client = new Client({ name: "corral-bench", version: "1" });
    await client.connect(transport);
    const pid = transport.pid as number;
    try {
      const created = await client.callTool({ name: "create_real_task", arguments: { description: "idle" } });
      const taskId = (created.structuredContent as { task_id: string }).task_id;
      for (let i = 0; i < count; i += 1) {
        const runner = i % 2 === 0 ? "process" : "tmux";
        const deployed = await client.callTool({ name: "deploy_headless_agent", arguments: { task_id: taskId, agent_type: "idle", prompt: "p", command: ["sleep", "3600"], runner } });
        if (deployed.isError === true) throw new Error(`deploy failed: ${JSON.stringify(deployed.content)}`);
      }
      await sleep(2000);
      const taken: number[] = [];
      for (let w = 0; w < WINDOWS; w += 1) {
        const before = cpuSeconds(pid);
        const t0 = performance.now();
        await sleep(WINDOW_S * 1000);
        const seconds = (performance.now() - t0) / 1000;
        taken.push(((cpuSeconds(pid) - before) / seconds) * 60);
      }
      windows[count] = taken.map((v) => round(v, 3));
      perMinute[count] = summarize(taken).median;
    } finally {
      await client.close();
      rmSync(home, { recursive: true, force: true });
    }
  }
  const at = (count: number): string => round(perMinute[count] as number, 3).toString();
  bench.record(
    "idle corral serve, CPU-seconds a minute at 0 / 10 / 30 sleeping agents (half process, half tmux)",
    `${at(0)} / ${at(10)} / ${at(30)} CPU-s/min (median of ${WINDOWS} × ${WINDOW_S} s)`,
    `≤ ${GOAL} at 30`,
    (perMinute[30] as number) <= GOAL,
    { perMinute, windows, windowSeconds: WINDOW_S },
  );
}

/**
 * The CPU time of every thread of the process, from each one's schedstat (nanoseconds on a
 * CPU): /proc/<pid>/stat counts in ticks of 10 ms, too coarse for a process that sleeps.
 */
function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch (cause) {
      // A thread that ended between the listing and the read took its time with it.
      if ((cause as { code?: unknown }).code !== "ENOENT") throw cause;
    }
  }
  return ns / 1e9;
}
