import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { round, type Bench, type Summary } from "../harness.js";
import { pings, serveWithAgents } from "../serve.js";

/**
 * How fast `corral serve` answers a ping while work that used to stall it goes on: another
 * process holding the database's write lock (while calls that must write, a kill and an
 * agent's exit arrive), and get_agent_output calls with a catastrophic-backtracking filter.
 */
export async function benchStall(bench: Bench): Promise<void> {
  const home = bench.home("stall-");
  const { client } = await serveWithAgents(home, 0);
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })).structuredContent as Record<string, unknown>;
  try {
    const taskId = ((await call("list_real_tasks", {})).tasks as { task_id: string }[])[0]?.task_id as string;
    const printer = await call("deploy_headless_agent", {
      task_id: taskId,
      agent_type: "printer",
      prompt: "p",
      command: ["bash", "-c", `yes '${"a".repeat(28)}!' | head -n 300000`],
    });
    const victims = [];
    for (let i = 0; i < 3; i += 1) victims.push(await call("deploy_headless_agent", { task_id: taskId, agent_type: "victim", prompt: "p", command: ["sleep", "600"] }));
    const gate = join(home, "go");
    const quitter = await call("deploy_headless_agent", {
      task_id: taskId,
      agent_type: "quitter",
      prompt: "p",
      command: ["bash", "-c", `while [ ! -e ${gate} ]; do sleep 0.01; done; exit 7`],
    });
    await call("wait_for_agents", { task_id: taskId, agent_ids: [printer.agent_id], timeout_s: 60 });
    await pings(client, 50);
    const idle = await pings(client, 500);

    const holder = spawn(process.execPath, [join(import.meta.dirname, "..", "..", "test", "fixtures", "workers", "hold-lock.js"), join(home, "corral.db")], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise((resolve) => holder.stdout?.once("data", resolve));
    writeFileSync(gate, "");
    // While the pings run: a deploy, a report of the lock in status, kills and an exit, none of which can be written.
    const busy = Promise.all([
      call("deploy_headless_agent", { task_id: taskId, agent_type: "late", prompt: "p", command: ["sleep", "600"] }),
      call("get_real_task_status", { task_id: taskId }),
      ...victims.map((v) => client.callTool({ name: "kill_real_agent", arguments: { task_id: taskId, agent_id: v.agent_id } })),
    ]);
    const locked = await pings(client, 500);
    await busy;
    holder.stdin?.end();
    await new Promise((resolve) => holder.once("exit", resolve));

    let filtering = true;
    let filterCalls = 0;
    const filters = (async () => {
      while (filtering) {
        await client.callTool({ name: "get_agent_output", arguments: { task_id: taskId, agent_id: printer.agent_id, filter: "(a+)+$" } });
        filterCalls += 1;
      }
    })();
    await pings(client, 20);
    const filtered = await pings(client, 500);
    filtering = false;
    await filters;
    await call("wait_for_agents", { task_id: taskId, agent_ids: [quitter.agent_id], timeout_s: 10 });

    const show = (s: Summary): string => `median ${round(s.median)} ms, p99 ${round(s.p99)} ms (max ${round(s.max)}, n=${s.n})`;
    bench.record("MCP ping over stdio, idle", show(idle), "p99 ≤ 100 ms", idle.p99 <= 100, idle);
    bench.record("MCP ping while another process holds the write lock", show(locked), "p99 ≤ 100 ms", locked.p99 <= 100, locked);
    bench.record("MCP ping during get_agent_output calls with filter (a+)+$ on 300,000 lines", show(filtered), "p99 ≤ 100 ms", filtered.p99 <= 100, {
      ...filtered,
      filterCalls,
    });
  } finally {
    await client.close();
    rmSync(home, { recursive: true, force: true });
  }
}
