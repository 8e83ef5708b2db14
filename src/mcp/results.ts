import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { errorView } from "../contract/errors.js";
import { REPLY_BUDGET_BYTES } from "../domain/bounds.js";
import type { CorralError, Result } from "../domain/errors.js";
import { briefOf } from "./brief.js";
import { fitToBudget } from "./reply-budget.js";

/**
 * What a tool's answer carries as text besides its structured content: the same JSON (the
 * spec's advice, for clients that read only the text), or a brief of it, for a client that
 * gives its model the structured content (Claude Code replaces the text with it), so that a
 * reply is not sent twice.
 */
export type TextForm = "json" | "brief";

/**
 * An error as a tool's answer: `{"error": {code, message, field?}}` as its text, the same JSON
 * the CLI's --json prints. It carries no structuredContent: a client checks that against the
 * tool's output schema, which describes the answer, not the error.
 */
export function errorResult(error: CorralError): CallToolResult {
  return { isError: true, content: [{ type: "text", text: JSON.stringify(errorView(error)) }] };
}

/**
 * A tool's answer, already in the contract's words (contract/wire.ts): structured content, and
 * as text the same JSON or a brief of it (`text`), within the reply budget. A value over it is
 * clipped (and says `truncated: true`); one that cannot be clipped to fit is an error, never a
 * reply the client would drop the connection over.
 */
export function toolResult<T extends object>(
  result: Result<T>,
  budget = REPLY_BUDGET_BYTES,
  text: { readonly form: TextForm; readonly tool: string } = { form: "json", tool: "" },
): CallToolResult {
  if (!result.ok) return errorResult(result.error);
  const fitted = fitToBudget(result.value, budget);
  if (!fitted.fits) {
    return errorResult({
      code: "REPLY_TOO_LARGE",
      message: `the answer would be ${fitted.bytes} bytes, over the ${budget}-byte reply budget; ask for less (a smaller limit or max_bytes, a tail, a filter, or the next page)`,
    });
  }
  return {
    content: [{ type: "text", text: text.form === "json" ? fitted.text : briefOf(text.tool, fitted.value as Record<string, unknown>) }],
    structuredContent: fitted.value as Record<string, unknown>,
  };
}
