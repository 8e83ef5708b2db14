import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

export const CORRAL_BIN = join(import.meta.dirname, "..", "..", "dist", "src", "cli", "main.js");

export interface Coordinator {
  readonly client: Client;
  readonly transport: StdioClientTransport;
  readonly home: string;
  /** Calls a tool and returns its structured content, failing the test on an error result. */
  call<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Calls a tool that must fail, and returns its error text. */
  refused(name: string, args: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/** Launches `corral serve` as Claude Code would: a child process speaking MCP on stdio. */
export async function startCoordinator(env: Record<string, string> = {}, args: readonly string[] = []): Promise<Coordinator> {
  const home = mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "serve-"));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CORRAL_BIN, "serve", ...args],
    env: { ...(process.env as Record<string, string>), CORRAL_HOME: home, CORRAL_LOG_LEVEL: "warn", ...env },
    stderr: "inherit",
  });
  const client = new Client({ name: "corral-test", version: "1.0.0" });
  await client.connect(transport);
  const raw = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  return {
    client,
    transport,
    home,
    async call<T>(name: string, args: Record<string, unknown> = {}) {
      const result = await raw(name, args);
      if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
      return result.structuredContent as T;
    },
    async refused(name: string, args: Record<string, unknown>) {
      const result = await raw(name, args);
      if (result.isError !== true) throw new Error(`${name} succeeded but should have failed: ${JSON.stringify(result.structuredContent)}`);
      const first = result.content[0];
      return first?.type === "text" ? first.text : JSON.stringify(result.content);
    },
    async close() {
      await client.close();
    },
  };
}
