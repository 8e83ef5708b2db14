import * as z from "zod";
import { JsonRecord, JsonValue } from "../contract/wire.js";

/**
 * The events corral records and shows: what agents report (progress, findings) and what their
 * CLIs' streams say (domain/stream-events.ts), as views. Their keys are corral's; what an agent
 * or a model wrote inside them (a finding's data, a tool call's input) is published as written.
 */

const severity = z.enum(["low", "medium", "high", "critical"]);

export const ProgressData = z.object({
  kind: z.literal("progress"),
  status: z.string(),
  message: z.string(),
  progress: z.number().int().optional(),
});

export const FindingData = z.object({
  kind: z.literal("finding"),
  findingType: z.string(),
  severity,
  message: z.string(),
  /** The agent's own record, published exactly as it was reported. */
  data: JsonRecord().optional(),
});

const nullableInt = z.number().int().nullable();

/** One event of an agent CLI's stream, as corral reads it (StreamEvent). */
export const StreamEventView = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("init"),
    sessionId: z.string(),
    model: z.string().nullable(),
    corralConnected: z.boolean().nullable(),
    mcpServers: z.array(z.object({ name: z.string(), status: z.string() })),
  }),
  z.object({ kind: z.literal("text"), text: z.string() }),
  z.object({ kind: z.literal("usage"), messageId: z.string().nullable(), inputTokens: z.number().int(), outputTokens: z.number().int() }),
  z.object({ kind: z.literal("tool_call"), id: z.string(), name: z.string(), input: JsonValue }),
  z.object({ kind: z.literal("tool_result"), id: z.string(), isError: z.boolean(), excerpt: z.string() }),
  z.object({
    kind: z.literal("result"),
    isError: z.boolean(),
    subtype: z.string(),
    text: z.string().nullable(),
    sessionId: z.string().nullable(),
    costUsd: z.number().nullable(),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
    numTurns: nullableInt,
    durationMs: z.number().nullable(),
    permissionDenials: z.array(JsonValue),
  }),
  z.object({ kind: z.literal("error"), message: z.string() }),
]);
export type StreamEventView = z.infer<typeof StreamEventView>;

export const EventView = z.object({
  id: z.number().int(),
  agentId: z.string(),
  kind: z.enum(["progress", "finding", "stream"]),
  at: z.string(),
  data: z.union([ProgressData, FindingData, StreamEventView]),
});
export type EventView = z.infer<typeof EventView>;

/** A line of a plain command's output, for `parsed` output of an agent with no stream parser. */
export const LineEntry = z.object({ kind: z.literal("line"), text: z.string() });

/**
 * An entry of get_agent_output's `entries`: a stream event or a line (format `parsed`), or a
 * line of the log as JSON, exactly as the CLI wrote it (format `jsonl`; `{raw, error}` when a
 * line is not a JSON object).
 */
export const OutputEntry = z.union([StreamEventView, LineEntry, JsonRecord()]);
