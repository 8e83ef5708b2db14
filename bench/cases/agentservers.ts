import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { unwrap } from "../../src/domain/errors.js";
import { corralEntry } from "../../src/lifecycle/self.js";
import { newToken } from "../../src/lifecycle/tokens.js";
import { readStat } from "../../src/supervisor/procfs.js";
import { launchOf } from "../../test/helpers/builders.js";
import { withStore } from "../../test/helpers/store.js";
import { insertAgents, MANY } from "../agents.js";
import { timed, type Bench } from "../harness.js";

/** Progress updates from many agent servers at once, each its own process: all must be stored. */
export async function benchAgentServers(bench: Bench): Promise<void> {
  const servers = 20;
  const each = 200;
  const data = await bench.withCorral(MANY, async (corral) => {
    const task = unwrap(corral.createTask({ description: "bench agent servers" }));
    const tokens = Array.from({ length: servers }, () => newToken());
    // The agent servers are this process's children: it stands as their agents' root, which
    // is what an agent server requires to find among its ancestors.
    const self = readStat(process.pid);
    if (self === null) throw new Error("cannot read /proc/self/stat");
    const ids = insertAgents(corral, task, servers, tokens);
    withStore(corral.config.home, (store) => {
      for (const id of ids) store.runs.recordLaunch(id, launchOf(self), Date.now());
    });
    const clients = await Promise.all(
      tokens.map(async (token) => {
        const client = new Client({ name: "corral-bench-agent", version: "1" });
        await client.connect(
          new StdioClientTransport({
            command: process.execPath,
            args: [corralEntry(), "serve", "--agent"],
            env: { ...(process.env as Record<string, string>), CORRAL_HOME: corral.config.home, CORRAL_AGENT_TOKEN: token, CORRAL_LOG_LEVEL: "warn" },
          }),
        );
        return client;
      }),
    );
    let refused = 0;
    // Until every server is closed: the figure is the whole burst, from the first call to the last exit.
    const run = await timed(async () => {
      try {
        await Promise.all(
          clients.map(async (client, n) => {
            for (let i = 0; i < each; i += 1) {
              const result = await client.callTool({ name: "update_agent_progress", arguments: { status: "bench", message: `${n}:${i}`, progress: i % 101 } });
              if (result.isError === true) refused += 1;
            }
          }),
        );
      } finally {
        await Promise.all(clients.map((client) => client.close()));
      }
    });
    const seconds = run.ms / 1000;
    const stored = withStore(corral.config.home, (store) => store.events.forTask(task.id, 0, 1_000_000).length);
    return { servers, each, seconds, perSecond: (servers * each) / seconds, stored, lost: servers * each - stored, refused };
  });
  bench.record(
    `progress updates from ${servers} agent servers at once`,
    `${Math.round(data.perSecond).toLocaleString("en")} updates/s, ${data.lost} lost`,
    "0 lost",
    data.lost === 0 && data.refused === 0,
    data,
  );
}
