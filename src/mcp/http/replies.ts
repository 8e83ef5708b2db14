import type { ServerResponse } from "node:http";

/**
 * An HTTP error whose body is a JSON-RPC error, as the MCP SDK's own transport answers, so a
 * client shows the message: id null, since the request's id was not read (or not trusted).
 */
export function sendRpcError(response: ServerResponse, status: number, code: number, message: string): void {
  const body = JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } });
  response.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  response.end(body);
}
