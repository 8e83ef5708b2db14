import * as z from "zod";
import { MAX_LOCAL_OUTPUT_BYTES } from "../domain/bounds.js";
import { OutputEntry } from "./event-views.js";
import { ExitView } from "./views.js";

/**
 * What a caller asks of an agent's output (the query's fields) and what it gets (the view).
 * A summary is a few hundred bytes whatever the agent wrote: a raw stream line (claude's init
 * line alone is kilobytes) never goes in it, only what corral read from the stream, clipped.
 */
export const SUMMARY_LINE = 200;
export const SUMMARY_ERRORS = 3;
export const SUMMARY_TOOL_NAMES = 10;
export const SUMMARY_RESULT = 500;
export const SUMMARY_LAST_LINES = 5;

const FORMATS = ["text", "jsonl", "parsed"] as const;
const RESPONSE_FORMATS = ["full", "summary", "compact", "recent"] as const;

/** The fields of an output query, shared by the service (in-process callers) and the tool. */
export const OutputFields = {
  tail: z.number().int().min(1).max(1_000_000).describe("only the last N lines"),
  /** RE2 syntax (see FILTER_SYNTAX), matched in time linear in each line. */
  filter: z.string().min(1).max(1000).describe("RE2 regular expression; lines matching it are kept, e.g. '(?i)error|warn'"),
  format: z.enum(FORMATS).describe("text: the lines; jsonl: each line as the JSON it is; parsed: corral's events of the agent's stream"),
  responseFormat: z
    .enum(RESPONSE_FORMATS)
    .describe("full; recent (the last 50 lines); compact (long lines cut); summary (result, errors, counts, cost and exit in a few hundred bytes)"),
  /** A reply over MCP is bounded by its budget; a caller in the process may read more. */
  maxBytes: (max: number) =>
    z
      .number()
      .int()
      .min(1)
      .max(max)
      .describe(`at most this many bytes of lines, counted as sent (JSON-escaped); default 100000, at most ${max}`),
};

export const OutputQuerySchema = z
  .object({
    tail: OutputFields.tail.optional(),
    filter: OutputFields.filter.optional(),
    format: OutputFields.format.default("text"),
    responseFormat: OutputFields.responseFormat.default("full"),
    maxBytes: OutputFields.maxBytes(MAX_LOCAL_OUTPUT_BYTES).default(100_000),
  })
  .strict();
export type OutputQuery = z.input<typeof OutputQuerySchema>;

export const AgentOutputView = z.object({
  agentId: z.string(),
  source: z.enum(["live", "archive", "none"]),
  totalBytes: z.number().int(),
  totalLines: z.number().int(),
  returnedLines: z.number().int(),
  truncated: z.boolean(),
  format: z.enum(FORMATS),
  responseFormat: z.enum(RESPONSE_FORMATS),
  text: z.string().optional(),
  /** Set when the filter stopped before it had looked at every line: why, and how far it got. */
  filterIncomplete: z.string().optional(),
  entries: z.array(OutputEntry).optional(),
  summary: z
    .object({
      status: z.string(),
      exit: ExitView.nullable(),
      lines: z.number().int(),
      bytes: z.number().int(),
      result: z
        .object({ text: z.string().nullable(), isError: z.boolean() })
        .nullable()
        .describe(`the agent's final result, its text clipped to ${SUMMARY_RESULT} characters; null before it gave one`),
      errors: z.array(z.string()).describe(`the last ${SUMMARY_ERRORS} errors, each clipped to ${SUMMARY_LINE} characters`),
      errorCount: z.number().int(),
      events: z.number().int().describe("events read from the agent's stream (lines, for a CLI without one)"),
      toolCalls: z.number().int(),
      toolsUsed: z.record(z.string(), z.number().int()).describe(`calls per tool name, the first ${SUMMARY_TOOL_NAMES} names`),
      denials: z.number().int().describe("tool uses the CLI denied permission for"),
      costUsd: z.number().nullable(),
      inputTokens: z.number().int(),
      outputTokens: z.number().int(),
      numTurns: z.number().int().nullable(),
      lastLines: z.array(z.string()).describe(`for a CLI without a structured stream, its last ${SUMMARY_LAST_LINES} lines, clipped; empty otherwise`),
    })
    .optional(),
});
export type AgentOutputView = z.infer<typeof AgentOutputView>;
