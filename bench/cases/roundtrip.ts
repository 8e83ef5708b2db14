import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { corralEntry } from "../../src/lifecycle/self.js";
import { ms, repeat, timed, type Bench, type Summary } from "../harness.js";

/** 50 calls to warm up, then 500 timed, of a tool that does next to nothing. */
async function calls(client: Client): Promise<Summary> {
  const list = () => client.callTool({ name: "list_real_tasks", arguments: {} });
  for (let i = 0; i < 50; i += 1) await list();
  return repeat(500, async () => (await timed(list)).ms);
}

/** A tool call that does next to nothing, over `corral serve`'s stdio and over `serve --http`: the cost of the MCP layer. */
export async function benchRoundTrip(bench: Bench): Promise<void> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [corralEntry(), "serve"],
    env: { ...(process.env as Record<string, string>), CORRAL_HOME: bench.home("serve-"), CORRAL_LOG_LEVEL: "warn" },
  });
  const client = new Client({ name: "corral-bench", version: "1" });
  await client.connect(transport);
  let summary;
  try {
    summary = await calls(client);
  } finally {
    await client.close();
  }
  bench.record("tool call round trip over stdio (list_real_tasks)", ms(summary), "median ≤ 2 ms", summary.median <= 2, summary);
  const overHttp = await httpRoundTrip(bench);
  bench.record("tool call round trip over HTTP (list_real_tasks)", ms(overHttp), "median ≤ 4 ms", overHttp.median <= 4, overHttp);
}

async function httpRoundTrip(bench: Bench): Promise<Summary> {
  const token = randomBytes(32).toString("base64url");
  const server = spawn(process.execPath, [corralEntry(), "serve", "--http"], {
    env: { ...process.env, CORRAL_HOME: bench.home("serve-http-"), CORRAL_LOG_LEVEL: "warn", CORRAL_HTTP_TOKEN: token },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(server, "exit");
  try {
    const [line] = (await once(server.stdout, "data")) as [Buffer];
    const client = new Client({ name: "corral-bench", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(line.toString().trim()), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    try {
      return await calls(client);
    } finally {
      await client.close();
    }
  } finally {
    server.kill("SIGTERM");
    await exited;
  }
}
