import { describe, expect, it } from "vitest";
import { ok } from "../src/domain/errors.js";
import { toolResult } from "../src/mcp/results.js";
import { textFormFor } from "../src/mcp/tool.js";
import { startCoordinator } from "./helpers/mcp-client.js";

const answer = { counts: { running: 2, completed: 9_998 }, page: { offset: 0, returned: 100, total: 10_000, next: "abc" }, agents: Array.from({ length: 100 }, (_, i) => ({ agent_id: `a-${i}` })) };

const textOf = (result: ReturnType<typeof toolResult>): string => {
  const first = result.content[0];
  return first?.type === "text" ? first.text : "";
};

describe("the text beside a tool answer's structured content (pure)", () => {
  it("is a brief for Claude Code, which gives its model the structured content in place of the text, and the JSON for any other client", () => {
    expect(textFormFor("auto", "claude-code")).toBe("brief");
    expect(textFormFor("auto", "some-other-client")).toBe("json");
    expect(textFormFor("auto", undefined)).toBe("json");
  });

  it("is what the mcpText setting says, whatever the client", () => {
    expect(textFormFor("json", "claude-code")).toBe("json");
    expect(textFormFor("brief", "some-other-client")).toBe("brief");
  });

  it("as JSON, is the structured content again", () => {
    const result = toolResult(ok(answer));
    expect(JSON.parse(textOf(result))).toEqual(result.structuredContent);
  });

  it("as a brief, names the figures and the page, counts the lists, and holds no copy of them", () => {
    const result = toolResult(ok(answer), undefined, { form: "brief", tool: "get_real_task_status" });
    const text = textOf(result);
    expect(text).toBe(
      [
        "get_real_task_status: the whole answer is its structured content.",
        "counts: {running 2, completed 9998}",
        'page: {offset 0, returned 100, total 10000, next "abc"}',
        "agents: 100 items",
      ].join("\n"),
    );
    expect(result.structuredContent).toEqual(answer);
  });
});

describe("the text a served tool answers with", () => {
  it("follows the mcpText setting, and an error is JSON whatever it says", async () => {
    const c = await startCoordinator({ CORRAL_MCP_TEXT: "brief" });
    try {
      const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "brief" });
      const status = await c.client.callTool({ name: "get_real_task_status", arguments: { task_id } });
      const text = (status.content as { type: string; text: string }[])[0]?.text ?? "";
      expect(text).toMatch(/^get_real_task_status: the whole answer is its structured content\.\ntask: \{task_id "/);
      expect(text).toMatch(/^page: \{offset 0, returned 0, total 0, next null\}$/m);
      expect(status.structuredContent).toMatchObject({ page: { total: 0 } });
      expect(await c.refusal("get_real_task_status", { task_id, cursor: "nope" })).toMatchObject({ code: "INVALID_INPUT", field: "cursor" });
    } finally {
      await c.close();
    }
  });
});
