import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Result } from "../domain/errors.js";

/** A tool's answer: structured content, and the same JSON as text for older clients. */
export function toolResult<T extends object>(result: Result<T>): CallToolResult {
  if (!result.ok) {
    return { isError: true, content: [{ type: "text", text: `${result.error.code}: ${result.error.message}` }] };
  }
  return {
    content: [{ type: "text", text: JSON.stringify(result.value, null, 2) }],
    structuredContent: result.value as Record<string, unknown>,
  };
}
