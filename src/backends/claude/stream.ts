import * as z from "zod";
import type { StreamEvent } from "../../domain/stream-events.js";

/**
 * Claude Code's `--output-format stream-json` lines. Only the fields corral uses are named;
 * everything else passes through, so a newer CLI that adds fields still parses.
 */
const Usage = z
  .object({
    input_tokens: z.number().default(0),
    output_tokens: z.number().default(0),
    cache_creation_input_tokens: z.number().nullish(),
    cache_read_input_tokens: z.number().nullish(),
  })
  .loose();

const inputTokens = (usage: z.infer<typeof Usage>): number =>
  usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);

const Block = z.union([
  z.object({ type: z.literal("text"), text: z.string() }).loose(),
  z.object({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.unknown() }).loose(),
  z.object({ type: z.literal("tool_result"), tool_use_id: z.string(), is_error: z.boolean().nullish(), content: z.unknown() }).loose(),
  z.object({ type: z.string() }).loose(),
]);

const Line = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("system"),
      subtype: z.string(),
      session_id: z.string().optional(),
      model: z.string().optional(),
      mcp_servers: z.array(z.object({ name: z.string(), status: z.string() }).loose()).optional(),
    })
    .loose(),
  z
    .object({
      type: z.literal("assistant"),
      message: z.object({ id: z.string().optional(), content: z.array(Block), usage: Usage.optional() }).loose(),
    })
    .loose(),
  z.object({ type: z.literal("user"), message: z.object({ content: z.union([z.string(), z.array(Block)]) }).loose() }).loose(),
  z
    .object({
      type: z.literal("result"),
      subtype: z.string(),
      is_error: z.boolean(),
      result: z.string().nullish(),
      session_id: z.string().nullish(),
      total_cost_usd: z.number().nullish(),
      num_turns: z.number().nullish(),
      duration_ms: z.number().nullish(),
      usage: Usage.nullish(),
      permission_denials: z.array(z.unknown()).nullish(),
    })
    .loose(),
]);

const EXCERPT = 500;

function excerpt(content: unknown): string {
  const text =
    typeof content === "string"
      ? content
      : Array.isArray(content)
        ? content.map((part) => (typeof part === "object" && part !== null && "text" in part ? String(part.text) : "")).join("")
        : JSON.stringify(content ?? "");
  return text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text;
}

/** The events one line of the stream holds; a line that is not JSON is an error event. */
export function parseClaudeLine(line: string, corralServer: string): StreamEvent[] {
  if (line.trim() === "") return [];
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (cause) {
    return [{ kind: "error", message: `not a stream-json line: ${line.slice(0, 200)} (${(cause as Error).message})` }];
  }
  const parsed = Line.safeParse(json);
  if (!parsed.success) return []; // other line types (stream_event, rate limits, ...) carry nothing corral keeps
  const event = parsed.data;
  switch (event.type) {
    case "system": {
      if (event.subtype !== "init") return [];
      const servers = (event.mcp_servers ?? []).map((s) => ({ name: s.name, status: s.status }));
      const corral = servers.find((s) => s.name === corralServer);
      return [
        {
          kind: "init",
          sessionId: event.session_id ?? "",
          model: event.model ?? null,
          corralConnected: corral === undefined ? false : corral.status === "connected",
          mcpServers: servers,
        },
      ];
    }
    case "assistant": {
      const events: StreamEvent[] = [];
      for (const block of event.message.content) {
        if (block.type === "text" && "text" in block) events.push({ kind: "text", text: String(block.text) });
        if (block.type === "tool_use" && "name" in block) {
          events.push({ kind: "tool_call", id: String(block.id), name: String(block.name), input: block.input });
        }
      }
      const usage = event.message.usage;
      // One model response can arrive as several assistant lines that repeat its usage: the
      // message id lets the reader count it once.
      if (usage !== undefined) {
        events.push({ kind: "usage", messageId: event.message.id ?? null, inputTokens: inputTokens(usage), outputTokens: usage.output_tokens });
      }
      return events;
    }
    case "user": {
      if (typeof event.message.content === "string") return [];
      return event.message.content.flatMap((block): StreamEvent[] =>
        block.type === "tool_result" && "tool_use_id" in block
          ? [{ kind: "tool_result", id: String(block.tool_use_id), isError: block.is_error === true, excerpt: excerpt(block.content) }]
          : [],
      );
    }
    case "result":
      return [
        {
          kind: "result",
          isError: event.is_error,
          subtype: event.subtype,
          text: event.result ?? null,
          sessionId: event.session_id ?? null,
          costUsd: event.total_cost_usd ?? null,
          inputTokens: event.usage === null || event.usage === undefined ? 0 : inputTokens(event.usage),
          outputTokens: event.usage?.output_tokens ?? 0,
          numTurns: event.num_turns ?? null,
          durationMs: event.duration_ms ?? null,
          permissionDenials: event.permission_denials ?? [],
        },
      ];
  }
}
