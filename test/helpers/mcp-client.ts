import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

export const CORRAL_BIN = join(import.meta.dirname, "..", "..", "dist", "src", "cli", "main.js");

export interface PublishedError {
  readonly code: string;
  readonly message: string;
  readonly field?: string;
}

export interface Coordinator {
  readonly client: Client;
  readonly transport: StdioClientTransport;
  readonly home: string;
  /** Calls a tool and returns its structured content, failing the test on an error result. */
  call<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Calls a tool that must fail, and returns its error as `CODE: field: message` (no field: `CODE: message`). */
  refused(name: string, args: Record<string, unknown>): Promise<string>;
  /** Calls a tool that must fail, and returns its error as published: `{code, message, field?}`. */
  refusal(name: string, args: Record<string, unknown>): Promise<PublishedError>;
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
  // The client then checks every answer against the output schema its tool publishes.
  await client.listTools();
  const raw = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  const refusal = async (name: string, args: Record<string, unknown>): Promise<PublishedError> => {
    const result = await raw(name, args);
    if (result.isError !== true) throw new Error(`${name} succeeded but should have failed: ${JSON.stringify(result.structuredContent)}`);
    const first = result.content[0];
    if (first?.type !== "text") throw new Error(`${name} failed without a text: ${JSON.stringify(result.content)}`);
    return (JSON.parse(first.text) as { error: PublishedError }).error;
  };
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
      const error = await refusal(name, args);
      return `${error.code}: ${error.field === undefined ? "" : `${error.field}: `}${error.message}`;
    },
    refusal,
    async close() {
      await client.close();
    },
  };
}
