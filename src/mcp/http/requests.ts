import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_REQUEST_BYTES } from "../../domain/bounds.js";

/** Why a request body was not taken, as the HTTP status and message to answer with. */
export interface BodyRefusal {
  readonly status: 400 | 413 | 415;
  readonly message: string;
}

export type BodyResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: BodyRefusal };

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  if (header === undefined) return null;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match === null ? null : (match[1] as string);
}

/**
 * A JSON body of at most MAX_REQUEST_BYTES (one JSON-RPC message, the stdio bound): a larger
 * one is refused as soon as it passes the bound, by its Content-Length when it gives one,
 * without reading the rest.
 */
export function readBoundedJson(request: IncomingMessage, maxBytes = MAX_REQUEST_BYTES): Promise<BodyResult> {
  const refused = (status: BodyRefusal["status"], message: string): BodyResult => ({ ok: false, error: { status, message } });
  const type = request.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) return Promise.resolve(refused(415, "the body must be JSON (Content-Type: application/json)"));
  const tooLarge = refused(413, `a message may have at most ${maxBytes} bytes`);
  if (Number(request.headers["content-length"] ?? 0) > maxBytes) return Promise.resolve(tooLarge);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > maxBytes) {
        request.off("data", onData);
        request.pause();
        resolve(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    request.on("data", onData);
    request.once("error", reject);
    request.once("end", () => {
      if (length > maxBytes) return;
      try {
        resolve({ ok: true, value: JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown });
      } catch (cause) {
        if (!(cause instanceof SyntaxError)) throw cause;
        resolve(refused(400, `the body is not JSON: ${cause.message}`));
      }
    });
  });
}

/**
 * Answers with a JSON-RPC error and `status`; the connection closes after it, so that a body
 * left unread (one too large) is never taken for the next request.
 */
export function refuse(response: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ jsonrpc: "2.0", error: { code: status === 400 ? -32700 : -32000, message }, id: null });
  response.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), Connection: "close" });
  response.end(body);
}
