import { z } from "zod";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import type { StreamEvent } from "../domain/stream-events.js";
import { logLines } from "../runners/log-lines.js";
import type { AgentRecord } from "../store/records.js";
import { parseInput } from "./inputs.js";
import { ExitView } from "./views.js";
import { readLogTail } from "./log-reader.js";
import { MAX_LOCAL_OUTPUT_BYTES } from "../domain/bounds.js";

export const OutputQuerySchema = z
  .object({
    tail: z.number().int().positive().max(1_000_000).optional(),
    filter: z.string().min(1).max(1000).optional(),
    format: z.enum(["text", "jsonl", "parsed"]).default("text"),
    responseFormat: z.enum(["full", "summary", "compact", "recent"]).default("full"),
    maxBytes: z.number().int().positive().max(MAX_LOCAL_OUTPUT_BYTES).default(100_000),
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
  format: z.enum(["text", "jsonl", "parsed"]),
  responseFormat: z.enum(["full", "summary", "compact", "recent"]),
  text: z.string().optional(),
  entries: z.array(z.unknown()).optional(),
  summary: z
    .object({
      status: z.string(),
      exit: ExitView.nullable(),
      lines: z.number().int(),
      bytes: z.number().int(),
      lastLines: z.array(z.string()),
      result: z.object({ text: z.string().nullable(), isError: z.boolean() }).nullable(),
      /** The last few, each clipped; errorCount says how many there were. */
      errors: z.array(z.string()),
      errorCount: z.number().int(),
      toolCalls: z.record(z.string(), z.number().int()),
      costUsd: z.number().nullable(),
      inputTokens: z.number().int(),
      outputTokens: z.number().int(),
    })
    .optional(),
});
export type AgentOutputView = z.infer<typeof AgentOutputView>;

/** How much of a log is read at most: its end, where a coordinator looks. */
const READ_LIMIT = 32 * 1024 * 1024;
const RECENT_LINES = 50;
const COMPACT_LINE = 200;
/** A summary is a few hundred bytes to a few KB, whatever the agent wrote. */
const SUMMARY_LINE = 500;
const SUMMARY_ERRORS = 10;
const SUMMARY_TOOL_NAMES = 50;
const SUMMARY_RESULT = 4_000;

const clipText = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);
const clipLine = (line: string): string => clipText(line, SUMMARY_LINE);
/** A line's size in a reply: JSON-escaped without its quotes, plus its newline. */
const sentBytes = (line: string): number => Buffer.byteLength(JSON.stringify(line)) - 1;

function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch (cause) {
    return { raw: line, error: describeUnknown(cause) };
  }
}

export interface ParsedOutputQuery extends z.output<typeof OutputQuerySchema> {
  readonly pattern: RegExp | null;
}

export function parseOutputQuery(raw: OutputQuery): Result<ParsedOutputQuery> {
  const parsed = parseInput(OutputQuerySchema, raw);
  if (!parsed.ok) return parsed;
  if (parsed.value.filter === undefined) return ok({ ...parsed.value, pattern: null });
  try {
    return ok({ ...parsed.value, pattern: new RegExp(parsed.value.filter) });
  } catch (cause) {
    return fail("INVALID_INPUT", `filter is not a valid regular expression: ${describeUnknown(cause)}`);
  }
}

/**
 * Reads an agent's output, live or archived alike, shaped as the caller asks. `parseLine` is
 * the backend's stream parser: with it, `parsed` gives corral's events and the summary counts
 * tool calls and errors; without it, lines stay lines.
 */
export async function readAgentOutput(
  agent: AgentRecord,
  query: ParsedOutputQuery,
  parseLine: ((line: string) => StreamEvent[]) | null,
): Promise<AgentOutputView> {
  const pattern = query.pattern;
  const log = await readLogTail(agent, READ_LIMIT);
  const all = logLines(log.data.toString("utf8"), agent.runner);
  if (all.at(-1) === "") all.pop();
  const base = {
    agentId: agent.id,
    source: log.source,
    totalBytes: log.totalBytes,
    totalLines: all.length,
    format: query.format,
    responseFormat: query.responseFormat,
  };
  if (query.responseFormat === "summary") {
    const events = parseLine === null ? [] : all.flatMap((line) => parseLine(line));
    const toolCalls: Record<string, number> = {};
    for (const event of events) {
      if (event.kind !== "tool_call") continue;
      // An agent names its tools: a stream with thousands of names must not widen the reply.
      const name = event.name in toolCalls || Object.keys(toolCalls).length < SUMMARY_TOOL_NAMES ? clipLine(event.name) : "(other tools)";
      toolCalls[name] = (toolCalls[name] ?? 0) + 1;
    }
    const errors = events.flatMap((event) =>
      event.kind === "error" ? [event.message] : event.kind === "tool_result" && event.isError ? [event.excerpt] : [],
    );
    return {
      ...base,
      returnedLines: 0,
      truncated: false,
      summary: {
        status: agent.status,
        exit: agent.exit,
        lines: all.length,
        bytes: log.totalBytes,
        lastLines: all.slice(-10).map(clipLine),
        result: agent.stream.result === null ? null : { ...agent.stream.result, text: agent.stream.result.text === null ? null : clipText(agent.stream.result.text, SUMMARY_RESULT) },
        errors: errors.slice(-SUMMARY_ERRORS).map(clipLine),
        errorCount: errors.length,
        toolCalls,
        costUsd: agent.stream.costUsd,
        inputTokens: agent.stream.inputTokens,
        outputTokens: agent.stream.outputTokens,
      },
    };
  }
  let lines = pattern === null ? all : all.filter((line) => pattern.test(line));
  const tail = query.tail ?? (query.responseFormat === "recent" ? RECENT_LINES : undefined);
  if (tail !== undefined) lines = lines.slice(-tail);
  if (query.responseFormat === "compact") lines = lines.map((l) => (l.length > COMPACT_LINE ? `${l.slice(0, COMPACT_LINE)}…` : l));
  // Keep the newest lines that fit in maxBytes, counted as they travel: JSON-escaped, where a
  // control character can take six bytes.
  let bytes = 0;
  let start = lines.length;
  while (start > 0 && bytes + sentBytes(lines[start - 1] as string) <= query.maxBytes) {
    start -= 1;
    bytes += sentBytes(lines[start] as string);
  }
  const kept = lines.slice(start);
  const truncated = start > 0 || log.totalBytes > log.data.length;
  if (query.format === "text") return { ...base, returnedLines: kept.length, truncated, text: kept.map((l) => `${l}\n`).join("") };
  const entries =
    query.format === "jsonl"
      ? kept.map(parseJsonLine)
      : parseLine === null
        ? kept.map((line) => ({ kind: "line", text: line }))
        : kept.flatMap((line) => parseLine(line));
  return { ...base, returnedLines: kept.length, truncated, entries };
}
