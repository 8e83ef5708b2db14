import type * as z from "zod";
import { errorView } from "../contract/errors.js";
import { toWire } from "../contract/wire.js";
import type { CorralError } from "../domain/errors.js";

/**
 * What `--json` prints: the same contract as the MCP tools (snake_case keys, the same views),
 * on stdout; an error as `{"error": {code, message, field?}}`, on stdout too, so a script reads
 * one stream whatever happened.
 */
export function printJson<S extends z.ZodType>(schema: S, value: z.input<S>): void {
  process.stdout.write(`${JSON.stringify(toWire(schema, value), null, 2)}\n`);
}

export function printJsonError(error: CorralError): void {
  process.stdout.write(`${JSON.stringify(errorView(error), null, 2)}\n`);
}
