import * as z from "zod";
import { ERROR_CODES, type CorralError } from "../domain/errors.js";

/** How an error is published, by the MCP tools and the CLI's --json alike. */
export const ErrorView = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    field: z.string().optional().describe("the input at fault, by the name the caller gave it (a tool's argument, e.g. agent_id)"),
  }),
});
export type ErrorView = z.infer<typeof ErrorView>;

export function errorView(error: CorralError): ErrorView {
  return { error: { code: error.code, message: error.message, ...(error.field === undefined ? {} : { field: error.field }) } };
}
