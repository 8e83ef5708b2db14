import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { corralEntry } from "../../src/lifecycle/self.js";
import { ms, repeat, timed, type Bench } from "../harness.js";

/** A tool call that does next to nothing, over `corral serve`'s stdio: the cost of the MCP layer. */
export async function benchRoundTrip(bench: Bench): Promise<void> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [corralEntry(), "serve"],
    env: { ...(process.env as Record<string, string>), CORRAL_HOME: bench.home("serve-"), CORRAL_LOG_LEVEL: "warn" },
  });
  const client = new Client({ name: "corral-bench", version: "1" });
  await client.connect(transport);
  const list = () => client.callTool({ name: "list_real_tasks", arguments: {} });
  let summary;
  try {
    for (let i = 0; i < 50; i += 1) await list();
    summary = await repeat(500, async () => (await timed(list)).ms);
  } finally {
    await client.close();
  }
  bench.record("tool call round trip over stdio (list_real_tasks)", ms(summary), "median ≤ 2 ms", summary.median <= 2, summary);
}
