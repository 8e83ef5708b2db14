import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { setTimeout as sleep } from "node:timers/promises";
import { corralEntry } from "../src/lifecycle/self.js";
import { readStat } from "../src/supervisor/procfs.js";
import { repeat, timed, type Summary } from "./harness.js";

/** `corral serve` as an MCP client starts it, with `count` sleeping agents deployed through it. */
export async function serveWithAgents(home: string, count: number, env: Record<string, string> = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [corralEntry(), "serve"],
    env: {
      ...(process.env as Record<string, string>),
      CORRAL_HOME: home,
      CORRAL_LOG_LEVEL: "warn",
      CORRAL_MAX_CONCURRENT_AGENTS: "1000",
      CORRAL_MAX_AGENTS_PER_TASK: "1000",
      ...env,
    },
  });
  const client = new Client({ name: "corral-bench", version: "1" });
  await client.connect(transport);
  const created = await client.callTool({ name: "create_real_task", arguments: { description: "bench" } });
  const taskId = (created.structuredContent as { task_id: string }).task_id;
  const pids: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const deployed = await client.callTool({
      name: "deploy_headless_agent",
      arguments: { task_id: taskId, agent_type: "bench", prompt: "p", command: ["sleep", "600"] },
    });
    pids.push((deployed.structuredContent as { pid: number }).pid);
  }
  return { client, pid: transport.pid as number, pids };
}

/** MCP pings, one after another, each timed from send to answer. */
export async function pings(client: Client, count: number): Promise<Summary> {
  return repeat(count, async () => (await timed(() => client.ping())).ms);
}

/** Resolves once the process has exited (a zombie counts: its parent may not have reaped it yet). */
export async function gone(pid: number): Promise<void> {
  while (readStat(pid) !== null && readStat(pid)?.state !== "Z") await sleep(5);
}
