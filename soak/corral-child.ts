import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { corralEntry } from "../src/lifecycle/self.js";

/**
 * `corral serve` as an MCP client starts it, in a state dir of its own, driven through the
 * published tools only: what this file knows of corral is its command line, its settings'
 * variables and the tools' snake_case arguments and answers.
 */

/** A tool's answer: its structured content, or the error corral published. */
export type ToolAnswer = { readonly ok: true; readonly value: Record<string, unknown> } | { readonly ok: false; readonly code: string; readonly message: string };

export interface ServeOptions {
  /** Its whole environment: the isolated HOME, state dir and tmux dir, and its settings. */
  readonly env: Readonly<Record<string, string>>;
  /** Where corral's stderr (its log) goes: an open file descriptor. */
  readonly stderrFd: number;
}

export class CorralChild {
  private constructor(
    private readonly client: Client,
    /** corral's own process: the one every figure of the soak is about. */
    readonly pid: number,
  ) {}

  static async start(options: ServeOptions): Promise<CorralChild> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [corralEntry(), "serve"],
      env: { ...options.env },
      stderr: options.stderrFd,
    });
    const client = new Client({ name: "corral-soak", version: "1" });
    await client.connect(transport);
    const pid = transport.pid;
    if (pid === null) throw new Error("corral serve started without a pid");
    return new CorralChild(client, pid);
  }

  async call(name: string, args: Record<string, unknown>, timeoutMs = 120_000): Promise<ToolAnswer> {
    const result = await this.client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs });
    if (result.isError !== true) return { ok: true, value: (result.structuredContent ?? {}) as Record<string, unknown> };
    const text = Array.isArray(result.content) && result.content[0]?.type === "text" ? String(result.content[0].text) : "";
    try {
      const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      return { ok: false, code: String(parsed.error?.code ?? "UNKNOWN"), message: String(parsed.error?.message ?? text) };
    } catch (cause) {
      return { ok: false, code: "UNPARSED", message: `${text} (${(cause as Error).message})` };
    }
  }

  /** Ends its stdin, as an MCP client leaves a stdio server; the SDK signals it only if it lingers. */
  async close(): Promise<void> {
    await this.client.close();
  }
}
