import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CORRAL_BIN } from "./mcp-client.js";

export interface HttpCorral {
  readonly child: ChildProcess;
  readonly home: string;
  /** The URL it printed, e.g. http://127.0.0.1:41234/mcp. */
  readonly url: string;
  readonly port: number;
  /** The token in its token file. */
  fileToken(): string;
  /** What it wrote on stderr so far. */
  stderr(): string;
  /** Resolves with its exit code once it exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERMs it unless it exited, and waits for its exit. */
  stop(): Promise<number | null>;
}

export const freshHome = (): string => mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "http-"));

/** Starts `corral serve --http` and waits for the URL line on its stdout. */
export async function startHttpCorral(options: { env?: Record<string, string>; args?: readonly string[]; home?: string } = {}): Promise<HttpCorral> {
  const home = options.home ?? freshHome();
  const child = spawn(process.execPath, [CORRAL_BIN, "serve", "--http", ...(options.args ?? [])], {
    env: { ...process.env, CORRAL_HOME: home, CORRAL_LOG_LEVEL: "warn", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("\n")) resolve(stdout.trim());
    });
    void exited.then((code) => reject(new Error(`corral serve --http exited ${code} before listening: ${stderr}`)));
  });
  return {
    child,
    home,
    url,
    port: Number(new URL(url).port),
    fileToken: () => readFileSync(join(home, "http-token"), "utf8").trim(),
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Runs `corral serve --http` that must refuse to start: its exit code and stderr. */
export async function refusedStart(options: { env?: Record<string, string>; args?: readonly string[]; home?: string }): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [CORRAL_BIN, "serve", "--http", ...(options.args ?? [])], {
    env: { ...process.env, CORRAL_HOME: options.home ?? freshHome(), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stdout = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  return { code, stderr, stdout };
}

export interface RawReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP request with exactly these headers (Host included), on a connection of its own, closed when it resolves. */
export function rawRequest(url: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: options.method ?? "POST", headers: { Connection: "close", ...options.headers }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      // Answered once its connection closed too, so that no test ends with a socket still open.
      response.once("end", () => {
        const reply = { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() };
        if (request.socket?.destroyed !== false) resolve(reply);
        else request.socket.once("close", () => resolve(reply));
      });
      response.once("error", reject);
    });
    request.once("error", reject);
    request.end(options.body);
  });
}

export const initializeBody = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "corral-test", version: "1.0.0" } },
});

/** The headers of an MCP POST, with this Authorization (none when null). */
export const mcpHeaders = (token: string | null, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({
  "Content-Type": "application/json",
  Accept: "application/json, text/event-stream",
  ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
  ...extra,
});

/** The MCP SDK's own client over streamable HTTP, sending the token as a bearer. */
export async function httpClient(url: string, token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  const client = new Client({ name: "corral-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}
