import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import type { StreamEvent } from "../domain/stream-events.js";
import { logLines } from "../runners/log-lines.js";
import type { StreamDelta } from "../store/streams.js";
import type { AgentRecord } from "../store/records.js";
import type { Store } from "../store/store.js";

const CHUNK = 1 << 20;
/**
 * One buffer for every read (reads are synchronous, so never two at once): a follower looks
 * at its logs four times a second, and a fresh zero-filled MiB each time is most of its cost.
 * What is kept of a read is copied out of it.
 */
let scratch: Buffer | null = null;
const TEXT_KEPT = 500;

/** Folds a stretch of stream events into totals, counting each model response's usage once. */
export function foldEvents(events: readonly StreamEvent[], countedMessages: Set<string>): StreamDelta {
  const delta: {
    -readonly [K in keyof StreamDelta]: StreamDelta[K];
  } = { inputTokens: 0, outputTokens: 0, toolCalls: 0, denials: 0, errors: 0 };
  for (const event of events) {
    switch (event.kind) {
      case "init":
        delta.sessionId = event.sessionId;
        delta.model = event.model;
        delta.corralConnected = event.corralConnected;
        break;
      case "text":
        delta.lastText = event.text.length > TEXT_KEPT ? `${event.text.slice(0, TEXT_KEPT)}…` : event.text;
        break;
      case "usage":
        if (event.messageId !== null) {
          if (countedMessages.has(event.messageId)) break;
          countedMessages.add(event.messageId);
        }
        delta.inputTokens += event.inputTokens;
        delta.outputTokens += event.outputTokens;
        break;
      case "tool_call":
        delta.toolCalls += 1;
        break;
      case "tool_result":
        break;
      case "result":
        delta.costUsd = event.costUsd;
        delta.numTurns = event.numTurns;
        delta.denials += event.permissionDenials.length;
        delta.result = { text: event.text, isError: event.isError };
        if (event.inputTokens > 0 || event.outputTokens > 0) delta.totalTokens = { input: event.inputTokens, output: event.outputTokens };
        if (event.sessionId !== null) delta.sessionId = event.sessionId;
        break;
      case "error":
        delta.errors += 1;
        break;
    }
  }
  return delta;
}

/**
 * Reads what the agent's log holds past the stored offset, parses it, and stores the events
 * and totals. Only whole lines are taken while the agent runs; `final` takes a last line
 * without its newline too. Returns whether anything was stored.
 */
export function readStream(
  store: Store,
  agent: AgentRecord,
  parseLine: (line: string) => StreamEvent[],
  countedMessages: Set<string>,
  final: boolean,
): boolean {
  if (!existsSync(agent.logPath)) return false;
  const fd = openSync(agent.logPath, "r");
  let offset = agent.stream.offset;
  let stored = false;
  const apply = (bytes: Buffer): boolean => {
    const events = logLines(bytes.toString("utf8"), agent.runner).flatMap((line) => parseLine(line));
    if (!store.streams.apply(agent, offset, offset + bytes.length, foldEvents(events, countedMessages), events, Date.now())) return false;
    offset += bytes.length;
    stored = true;
    return true;
  };
  try {
    const size = fstatSync(fd).size;
    const buffer = (scratch ??= Buffer.allocUnsafe(CHUNK));
    let pending = Buffer.alloc(0);
    let position = offset;
    while (position < size) {
      const n = readSync(fd, buffer, 0, Math.min(CHUNK, size - position), position);
      if (n === 0) break;
      position += n;
      const data = Buffer.concat([pending, buffer.subarray(0, n)]);
      const end = data.lastIndexOf(0x0a);
      if (end < 0) {
        pending = data;
        continue;
      }
      if (!apply(data.subarray(0, end + 1))) return stored;
      pending = data.subarray(end + 1);
    }
    if (final && pending.length > 0) apply(pending);
  } finally {
    closeSync(fd);
  }
  return stored;
}
