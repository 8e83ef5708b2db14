import { describe, expect, it } from "vitest";
import { parseClaudeLine } from "../../src/backends/claude/stream.js";
import { foldEvents } from "../../src/lifecycle/stream-reader.js";
import { claudeLine } from "../helpers/builders.js";

const line = (value: unknown): string => JSON.stringify(value);
const init = (status: string | null) =>
  claudeLine.init({ model: "claude-x", mcp_servers: status === null ? [{ name: "other", status: "connected" }] : [{ name: "corral", status }] });

describe("reading claude's stream-json", () => {
  it.each([
    ["connected", true],
    ["failed", false],
    [null, false],
  ] as const)("init with corral %s → connected %s", (status, connected) => {
    expect(parseClaudeLine(init(status), "corral")).toEqual([
      expect.objectContaining({ kind: "init", sessionId: "s-1", model: "claude-x", corralConnected: connected }),
    ]);
  });

  it("turns an assistant message into text, tool calls and one usage", () => {
    const events = parseClaudeLine(
      line({
        type: "assistant",
        message: {
          id: "m1",
          content: [
            { type: "text", text: "looking" },
            { type: "tool_use", id: "t1", name: "Bash", input: { command: "ls" } },
            { type: "thinking", thinking: "..." },
          ],
          usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100 },
        },
      }),
      "corral",
    );
    expect(events).toEqual([
      { kind: "text", text: "looking" },
      { kind: "tool_call", id: "t1", name: "Bash", input: { command: "ls" } },
      { kind: "usage", messageId: "m1", inputTokens: 110, outputTokens: 5 },
    ]);
  });

  it("reads tool errors, the result, and lines that are not JSON", () => {
    expect(
      parseClaudeLine(line({ type: "user", message: { content: [{ type: "tool_result", tool_use_id: "t1", is_error: true, content: "denied" }] } }), "corral"),
    ).toEqual([{ kind: "tool_result", id: "t1", isError: true, excerpt: "denied" }]);
    const [result] = parseClaudeLine(
      claudeLine.result({
        total_cost_usd: 0.25,
        num_turns: 3,
        duration_ms: 900,
        usage: { input_tokens: 300, output_tokens: 40 },
        permission_denials: [{ tool_name: "Bash" }],
      }),
      "corral",
    );
    expect(result).toMatchObject({ kind: "result", isError: false, text: "done", costUsd: 0.25, inputTokens: 300, numTurns: 3 });
    expect(parseClaudeLine("not json", "corral")).toEqual([expect.objectContaining({ kind: "error" })]);
    expect(parseClaudeLine(line({ type: "stream_event", event: {} }), "corral")).toEqual([]);
    expect(parseClaudeLine("", "corral")).toEqual([]);
  });

  it("counts a response's usage once even when it spans several lines, and lets the result's totals win", () => {
    const counted = new Set<string>();
    const usage = { kind: "usage" as const, messageId: "m1", inputTokens: 10, outputTokens: 2 };
    expect(foldEvents([usage, usage], counted)).toMatchObject({ inputTokens: 10, outputTokens: 2 });
    expect(foldEvents([usage], counted)).toMatchObject({ inputTokens: 0, outputTokens: 0 });
    const folded = foldEvents(
      [
        { kind: "tool_call", id: "t", name: "x", input: {} },
        {
          kind: "result",
          isError: false,
          subtype: "success",
          text: "ok",
          sessionId: "s",
          costUsd: 0.1,
          inputTokens: 50,
          outputTokens: 7,
          numTurns: 2,
          durationMs: 1,
          permissionDenials: [{}],
        },
      ],
      counted,
    );
    expect(folded).toMatchObject({ toolCalls: 1, denials: 1, costUsd: 0.1, totalTokens: { input: 50, output: 7 }, result: { text: "ok", isError: false } });
  });
});
