import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { scriptBlock, startModelServer } from "../../src/demo/model-server/index.js";
import type { TaskId } from "../../src/domain/ids.js";
import { corralEntry } from "../../src/lifecycle/self.js";
import { treeOf } from "../../src/supervisor/discover.js";
import { readStat } from "../../src/supervisor/procfs.js";
import { scriptedClaudeEnv } from "../../test/helpers/claude-env.js";
import { withStore } from "../../test/helpers/store.js";
import { round, summarize, type Bench } from "../harness.js";

const SIZES = [1, 10, 30] as const;
const GOAL_MIB = 3;

/** A process's proportional set size, in MiB: its share of the pages it maps, shared ones split among their users. */
function pssMiB(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, "latin1");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT" || (cause as NodeJS.ErrnoException).code === "ESRCH") return 0;
    throw cause;
  }
  const kib = /^Pss:\s+(\d+) kB/m.exec(text)?.[1];
  return kib === undefined ? 0 : Number(kib) / 1024;
}

const commOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "latin1").trim();
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw cause;
  }
};

interface Sample {
  readonly agents: number;
  /** corral's processes in the agents' trees (tini, agent servers), all agents together. */
  readonly inTreesMiB: number;
  /** What the coordinator grew by since it had no agent. */
  readonly coordinatorGrowthMiB: number;
  /** corral's memory per agent: the two above over the agents. */
  readonly perAgentMiB: number;
  /** The agent CLI's own PSS per agent, for scale. */
  readonly claudePerAgentMiB: number;
}

/**
 * What corral itself costs in memory for each live claude agent, with each agent's tools in a
 * server process of its own (agentTools=server) and served over HTTP by the coordinator
 * (agentTools=http): the PSS of corral's processes in the agents' trees plus what the
 * coordinator grew by, over the agents, at 1, 10 and 30 live agents idling after their first
 * report. And how long an agent took from its deploy to its first tool call being recorded.
 */
export async function benchAgentMemory(bench: Bench): Promise<void> {
  const model = await startModelServer();
  let serverFirstCall: number | null = null;
  try {
    for (const mode of ["server", "http"] as const) {
      const home = bench.home(`memory-${mode}-`);
      const userHome = bench.home("home-");
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [corralEntry(), "serve"],
        env: {
          ...(process.env as Record<string, string>),
          // From dist/bench/cases: the pinned devDependency at the project's root.
          ...scriptedClaudeEnv(model.url, { CORRAL_BACKENDS_CLAUDE_PATH: join(import.meta.dirname, "..", "..", "..", "node_modules", ".bin", "claude") }),
          HOME: userHome,
          CLAUDE_CONFIG_DIR: join(userHome, ".claude"),
          CORRAL_HOME: home,
          CORRAL_LOG_LEVEL: "warn",
          CORRAL_AGENT_TOOLS: mode,
          CORRAL_MAX_CONCURRENT_AGENTS: "100",
          CORRAL_MAX_AGENTS_PER_TASK: "100",
        },
      });
      const client = new Client({ name: "corral-bench", version: "1" });
      await client.connect(transport);
      const coordinator = transport.pid as number;
      try {
        const created = await client.callTool({ name: "create_real_task", arguments: { description: "bench memory" } });
        const taskId = (created.structuredContent as { task_id: string }).task_id as TaskId;
        await sleep(500);
        const baseline = pssMiB(coordinator);
        const roots: number[] = [];
        const firstCallMs: number[] = [];
        const samples: Sample[] = [];
        for (const size of SIZES) {
          while (roots.length < size) {
            const prompt = `Report once, then wait.\n\n${scriptBlock([{ tool: "mcp__corral__update_agent_progress", input: { status: "working", message: "up", progress: 1 } }, { hang: true }])}`;
            const at = Date.now();
            const deployed = await client.callTool({ name: "deploy_headless_agent", arguments: { task_id: taskId, agent_type: "idle", backend: "claude", prompt } });
            if (deployed.isError === true) throw new Error(`deploy failed: ${JSON.stringify(deployed.content)}`);
            const { agent_id: id, pid } = deployed.structuredContent as { agent_id: string; pid: number };
            roots.push(pid);
            const reported = await firstReport(home, taskId, id);
            firstCallMs.push(reported - at);
          }
          await sleep(2000);
          let inTrees = 0;
          let claude = 0;
          for (const root of roots) {
            const stat = readStat(root);
            if (stat === null) continue;
            for (const member of treeOf({ pid: root, startTime: stat.startTime })) {
              const pss = pssMiB(member.pid);
              if (commOf(member.pid) === "claude") claude += pss;
              else inTrees += pss;
            }
          }
          const growth = Math.max(0, pssMiB(coordinator) - baseline);
          samples.push({
            agents: size,
            inTreesMiB: round(inTrees, 1),
            coordinatorGrowthMiB: round(growth, 1),
            perAgentMiB: round((inTrees + growth) / size, 2),
            claudePerAgentMiB: round(claude / size, 1),
          });
        }
        const first = summarize(firstCallMs);
        if (mode === "server") serverFirstCall = first.median;
        const at30 = samples.at(-1) as Sample;
        bench.record(
          `corral's PSS per live claude agent, agentTools=${mode}`,
          samples.map((s) => `${s.agents}: ${s.perAgentMiB} MiB`).join(", ") + ` (claude itself ${at30.claudePerAgentMiB} MiB)`,
          `≤ ${GOAL_MIB} MiB at 30 (goal for http)`,
          mode === "http" ? at30.perAgentMiB <= GOAL_MIB : null,
          { samples, baselineMiB: round(baseline, 1) },
        );
        bench.record(
          `deploy → first tool call recorded, agentTools=${mode}`,
          `median ${round(first.median)} ms (p95 ${round(first.p95)}, n=${first.n})`,
          "no later than agentTools=server",
          mode === "http" && serverFirstCall !== null ? first.median <= serverFirstCall : null,
          first,
        );
      } finally {
        await client.close();
      }
    }
  } finally {
    await model.close();
  }
}

/** When the agent's first progress report was recorded (ms since the epoch). */
async function firstReport(home: string, taskId: TaskId, agentId: string): Promise<number> {
  for (let i = 0; i < 1200; i += 1) {
    const at = withStore(home, (store) => store.events.forTask(taskId).find((e) => e.agentId === agentId && e.kind === "progress")?.at);
    if (at !== undefined) return at;
    await sleep(25);
  }
  throw new Error(`agent ${agentId} never reported`);
}
