import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { JSONRPCMessageSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { describeUnknown } from "../domain/errors.js";
import { MAX_REQUEST_BYTES } from "../domain/bounds.js";

/** How much of an oversized line is kept to find its id: the SDK's client writes the id last. */
const ID_WINDOW = 512;

/**
 * MCP over stdin/stdout, or over the owner's end of a contained agent's relay socket:
 * newline-delimited JSON-RPC. Written here rather than taken from the SDK because the SDK's
 * stdio transport fails the wrong way for a server that holds agents:
 * one request over its buffer limit closes the transport and pauses stdin, leaving a server
 * that answers nothing and no longer sees its client leave; and it ignores stdin's end.
 * Here an oversized request is answered with an error and skipped, a line that is not
 * JSON-RPC is answered with a parse error, and the transport closes only when the client
 * is gone: stdin ends or fails, or stdout can no longer be written.
 */
export class BoundedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private chunks: Buffer[] = [];
  private buffered = 0;
  /** While an oversized line is being skipped: its first bytes, and its size so far. */
  private skipping: { head: string; tail: Buffer; bytes: number } | null = null;
  private closed = false;

  constructor(
    private readonly stdin: NodeJS.ReadableStream = process.stdin,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly maxRequestBytes = MAX_REQUEST_BYTES,
  ) {}

  async start(): Promise<void> {
    this.stdin.on("data", this.onData);
    this.stdin.once("end", this.onGone);
    this.stdin.once("close", this.onGone);
    this.stdin.on("error", this.onStreamError);
    this.stdout.on("error", this.onStreamError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(message);
  }

  private write(message: unknown): Promise<void> {
    if (this.closed) return Promise.resolve();
    const line = `${JSON.stringify(message)}\n`;
    // The callback runs once the line is flushed or the write failed; a failed write means the
    // client is gone, which closes the transport (onStreamError).
    return new Promise<void>((resolve) => void this.stdout.write(line, () => resolve()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdin.off("data", this.onData);
    this.stdin.off("end", this.onGone);
    this.stdin.off("close", this.onGone);
    this.stdin.off("error", this.onStreamError);
    this.stdout.off("error", this.onStreamError);
    this.chunks = [];
    this.skipping = null;
    this.onclose?.();
  }

  private readonly onGone = (): void => void this.close();

  private readonly onStreamError = (error: Error): void => {
    this.onerror?.(error);
    void this.close();
  };

  private readonly onData = (chunk: Buffer | string): void => {
    let data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    while (data.length > 0 && !this.closed) {
      const newline = data.indexOf(0x0a);
      const part = newline === -1 ? data : data.subarray(0, newline);
      if (this.skipping !== null) this.skip(part);
      else if (this.buffered + part.length > this.maxRequestBytes) this.startSkipping(part);
      else {
        this.chunks.push(part);
        this.buffered += part.length;
      }
      if (newline === -1) return;
      this.endLine();
      data = data.subarray(newline + 1);
    }
  };

  private startSkipping(part: Buffer): void {
    const buffered = Buffer.concat([...this.chunks, part]);
    this.chunks = [];
    this.buffered = 0;
    this.skipping = { head: buffered.subarray(0, ID_WINDOW).toString("utf8"), tail: Buffer.alloc(0), bytes: 0 };
    this.skip(buffered);
  }

  private skip(part: Buffer): void {
    const skipping = this.skipping as NonNullable<typeof this.skipping>;
    skipping.bytes += part.length;
    skipping.tail = Buffer.concat([skipping.tail, part.subarray(Math.max(0, part.length - ID_WINDOW))]);
    if (skipping.tail.length > ID_WINDOW) skipping.tail = skipping.tail.subarray(skipping.tail.length - ID_WINDOW);
  }

  private endLine(): void {
    if (this.skipping !== null) {
      const { head, tail, bytes } = this.skipping;
      this.skipping = null;
      const id = requestIdOf(head, tail.toString("utf8"));
      this.onerror?.(new Error(`dropped a request of ${bytes} bytes, over the ${this.maxRequestBytes}-byte limit`));
      // JSON-RPC answers a request whose id cannot be read with id null.
      void this.write({
        jsonrpc: "2.0",
        id: id ?? null,
        error: {
          code: -32600,
          message: `request too large: ${bytes} bytes, over corral's limit of ${this.maxRequestBytes} bytes per message; send less (see the input bounds in corral's README)`,
        },
      });
      return;
    }
    const line = Buffer.concat(this.chunks).toString("utf8").replace(/\r$/, "");
    this.chunks = [];
    this.buffered = 0;
    if (line.trim() === "") return;
    let message: JSONRPCMessage;
    try {
      message = JSONRPCMessageSchema.parse(JSON.parse(line));
    } catch (cause) {
      this.onerror?.(new Error(`a line on stdin is not a JSON-RPC message: ${describeUnknown(cause)}`));
      void this.write({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error: not a JSON-RPC message" } });
      return;
    }
    this.onmessage?.(message);
  }
}

/**
 * The id of a request that was too large to read whole, from its first or last bytes: the SDK's
 * client writes `"id"` after the params, other clients before them. Undefined when not found.
 */
export function requestIdOf(head: string, tail: string): string | number | undefined {
  const last = /"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*}\s*$/.exec(tail.trimEnd());
  const first = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")/.exec(head);
  const raw = last?.[1] ?? first?.[1];
  if (raw === undefined) return undefined;
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw);
}
