import { createRequire } from "node:module";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type * as Re2 from "re2js";
import type * as z from "zod";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import type { StreamEvent } from "../domain/stream-events.js";
import type { AgentRecord } from "../store/records.js";
import { parseInput } from "./inputs.js";
import {
  AgentOutputView,
  OutputQuerySchema,
  SUMMARY_ERRORS,
  SUMMARY_LAST_LINES,
  SUMMARY_LINE,
  SUMMARY_RESULT,
  SUMMARY_TOOL_NAMES,
  type OutputQuery,
} from "./output-views.js";
import type { RunnerKind } from "../domain/config.js";
import { logLines } from "../runners/log-lines.js";
import { readLogTail } from "./log-reader.js";

export { AgentOutputView, type OutputQuery };

/** How much of a log is read at most: its end, where a coordinator looks. */
const READ_LIMIT = 32 * 1024 * 1024;
const RECENT_LINES = 50;
const COMPACT_LINE = 200;

const clipText = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);
const clipLine = (line: string): string => clipText(line, SUMMARY_LINE);
/** A line's size in a reply: JSON-escaped without its quotes, plus its newline. */
const sentBytes = (line: string): number => Buffer.byteLength(JSON.stringify(line)) - 1;

/**
 * What bounds one call, whatever the caller asks: the work on the event loop is done in
 * slices of about SLICE_MS, with other calls served between them. RE2 matches a line in time
 * proportional to its length times the size of the pattern's program (measured here at up to
 * 20 ns per instruction and character), so a filter looks at no more than FILTER_LINE_WORK /
 * (program size) characters of a line — FILTER_LINE_CHARS at most — and refuses a program
 * larger than FILTER_MAX_INSTRUCTIONS: no one line costs more than about 20 ms. It looks at
 * the newest lines first and stops after FILTER_BUDGET_MS of matching, saying so.
 */
const SLICE_MS = 10;
const FILTER_LINE_CHARS = 64 * 1024;
const FILTER_LINE_WORK = 1_000_000;
const FILTER_MAX_INSTRUCTIONS = 2000;
const FILTER_BUDGET_MS = 2000;
const FILTER_SYNTAX =
  "RE2 syntax (github.com/google/re2/wiki/Syntax): like JavaScript's, without lookaround or backreferences; flags inline, e.g. (?i)error";

/** Runs `work` over the items in slices of about SLICE_MS, yielding to the event loop between them. */
async function inSlices<T>(items: readonly T[], work: (item: T) => void): Promise<void> {
  let i = 0;
  while (i < items.length) {
    const sliceEnd = performance.now() + SLICE_MS;
    // The clock is read every 64 items: reading it costs more than most items do.
    while (i < items.length && performance.now() < sliceEnd) {
      for (let n = 0; n < 64 && i < items.length; n += 1, i += 1) work(items[i] as T);
    }
    await yieldToEventLoop();
  }
}

/** The log's lines as its runner wrote them (see logLines), split a megabyte at a time between turns of the event loop. */
async function linesOf(data: Buffer, runner: RunnerKind): Promise<string[]> {
  const lines: string[] = [];
  const SLICE_BYTES = 1 << 20;
  let start = 0;
  while (start < data.length) {
    let end = Math.min(data.length, start + SLICE_BYTES);
    if (end < data.length) {
      const newline = data.indexOf(0x0a, end);
      end = newline === -1 ? data.length : newline + 1;
    }
    const part = logLines(data.subarray(start, end).toString("utf8"), runner);
    if (end === data.length && part.at(-1) === "") part.pop();
    else if (end < data.length) part.pop();
    for (const line of part) lines.push(line);
    start = end;
    await yieldToEventLoop();
  }
  return lines;
}

/** A line of a jsonl log as the object it is; `{raw, error}` when it is not one. */
function parseJsonLine(line: string): Record<string, unknown> {
  try {
    const value = JSON.parse(line) as unknown;
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { raw: line, error: "not a JSON object" };
  } catch (cause) {
    return { raw: line, error: describeUnknown(cause) };
  }
}

export interface ParsedOutputQuery extends z.output<typeof OutputQuerySchema> {
  /** The compiled filter, and how much of each line it may look at. */
  readonly pattern: { readonly re: Re2.RE2JS; readonly lineChars: number } | null;
}

/**
 * The filter is compiled by RE2JS, a port of RE2: its matching never backtracks, so a pattern
 * such as (a+)+$ costs time linear in the line instead of exponential, as it would with
 * JavaScript's RegExp, which would then hold the event loop and every other call.
 */
/**
 * RE2JS (a quarter of a megabyte of code), loaded at the first filter: most processes — every
 * command but `logs`, every agent's own server — never read output with one.
 */
let re2: typeof Re2 | null = null;
const loadRe2 = (): typeof Re2 => (re2 ??= createRequire(import.meta.url)("re2js") as typeof Re2);

export function parseOutputQuery(raw: OutputQuery): Result<ParsedOutputQuery> {
  const parsed = parseInput(OutputQuerySchema, raw);
  if (!parsed.ok) return parsed;
  if (parsed.value.filter === undefined) return ok({ ...parsed.value, pattern: null });
  const { RE2JS: Compiler, RE2JSException } = loadRe2();
  let re: Re2.RE2JS;
  try {
    re = Compiler.compile(parsed.value.filter);
  } catch (cause) {
    if (!(cause instanceof RE2JSException)) throw cause;
    return fail("INVALID_INPUT", `${describeUnknown(cause)}; filters use ${FILTER_SYNTAX}`, "filter");
  }
  const instructions = (re.re2().prog as { numInst(): number }).numInst();
  if (instructions > FILTER_MAX_INSTRUCTIONS) {
    return fail(
      "INVALID_INPUT",
      `too large: it compiles to ${instructions} instructions, more than ${FILTER_MAX_INSTRUCTIONS}; use fewer or smaller repeat counts ({n})`,
      "filter",
    );
  }
  return ok({ ...parsed.value, pattern: { re, lineChars: Math.min(FILTER_LINE_CHARS, Math.floor(FILTER_LINE_WORK / instructions)) } });
}

/**
 * The lines that match, newest first until `wanted` are found (the caller keeps only the
 * newest), or the budget is spent; `looked` says how many lines were looked at.
 */
async function filterLines(
  lines: readonly string[],
  pattern: NonNullable<ParsedOutputQuery["pattern"]>,
  wanted: number,
): Promise<{ matched: string[]; looked: number; complete: boolean }> {
  const { re, lineChars } = pattern;
  const matched: string[] = [];
  const deadline = performance.now() + FILTER_BUDGET_MS;
  let i = lines.length - 1;
  while (i >= 0 && matched.length < wanted && performance.now() < deadline) {
    const sliceEnd = Math.min(deadline, performance.now() + SLICE_MS);
    while (i >= 0 && matched.length < wanted && performance.now() < sliceEnd) {
      const line = lines[i] as string;
      if (re.test(line.length > lineChars ? line.slice(0, lineChars) : line)) matched.push(line);
      i -= 1;
    }
    await yieldToEventLoop();
  }
  const complete = i < 0 || matched.length >= wanted;
  return { matched: matched.reverse(), looked: lines.length - 1 - i, complete };
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
  const all = await linesOf(log.data, agent.runner);
  const base = {
    agentId: agent.id,
    source: log.source,
    totalBytes: log.totalBytes,
    totalLines: all.length,
    format: query.format,
    responseFormat: query.responseFormat,
  };
  if (query.responseFormat === "summary") {
    const events: StreamEvent[] = [];
    if (parseLine !== null) await inSlices(all, (line) => events.push(...parseLine(line)));
    const toolsUsed: Record<string, number> = {};
    let toolCalls = 0;
    for (const event of events) {
      if (event.kind !== "tool_call") continue;
      toolCalls += 1;
      // An agent names its tools: a stream with thousands of names must not widen the reply.
      const name = clipLine(event.name);
      const key = name in toolsUsed || Object.keys(toolsUsed).length < SUMMARY_TOOL_NAMES ? name : "(other tools)";
      toolsUsed[key] = (toolsUsed[key] ?? 0) + 1;
    }
    const errors = events.flatMap((event) =>
      event.kind === "error" ? [event.message] : event.kind === "tool_result" && event.isError ? [event.excerpt] : [],
    );
    const result = agent.stream.result;
    return {
      ...base,
      returnedLines: 0,
      truncated: false,
      summary: {
        status: agent.status,
        exit: agent.exit,
        lines: all.length,
        bytes: log.totalBytes,
        result: result === null ? null : { text: result.text === null ? null : clipText(result.text, SUMMARY_RESULT), isError: result.isError },
        errors: errors.slice(-SUMMARY_ERRORS).map(clipLine),
        errorCount: errors.length,
        events: parseLine === null ? all.length : events.length,
        toolCalls,
        toolsUsed,
        denials: agent.stream.denials,
        costUsd: agent.stream.costUsd,
        inputTokens: agent.stream.inputTokens,
        outputTokens: agent.stream.outputTokens,
        numTurns: agent.stream.numTurns,
        lastLines: parseLine === null ? all.slice(-SUMMARY_LAST_LINES).map(clipLine) : [],
      },
    };
  }
  const tail = query.tail ?? (query.responseFormat === "recent" ? RECENT_LINES : undefined);
  let lines = all;
  let filterIncomplete: string | undefined;
  if (pattern !== null) {
    // Past maxBytes of matches, older ones would be dropped anyway: no need to find them.
    const filtered = await filterLines(all, pattern, Math.min(tail ?? Number.MAX_SAFE_INTEGER, query.maxBytes));
    lines = filtered.matched;
    if (!filtered.complete) {
      filterIncomplete = `the filter stopped after ${FILTER_BUDGET_MS} ms of matching, having looked at the newest ${filtered.looked} of ${all.length} lines: narrow it, or use tail`;
    }
  }
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
  const truncated = start > 0 || log.totalBytes > log.data.length || filterIncomplete !== undefined;
  const notice = filterIncomplete === undefined ? {} : { filterIncomplete };
  if (query.format === "text") return { ...base, returnedLines: kept.length, truncated, ...notice, text: kept.map((l) => `${l}\n`).join("") };
  const entries: unknown[] = [];
  const toEntries =
    query.format === "jsonl"
      ? (line: string) => entries.push(parseJsonLine(line))
      : parseLine === null
        ? (line: string) => entries.push({ kind: "line", text: line })
        : (line: string) => entries.push(...parseLine(line));
  await inSlices(kept, toEntries);
  // Entries are what the stream parser made (StreamEvent, whose lists are readonly), lines or JSON objects.
  return { ...base, returnedLines: kept.length, truncated, ...notice, entries: entries as AgentOutputView["entries"] };
}
