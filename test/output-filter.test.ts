import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";

let server: Coordinator;
let taskId = "";
let agentId = "";
const LINES = 300_000;
// 29 characters: with JavaScript's RegExp, (a+)+$ takes seconds on one such line.
const LINE = `${"a".repeat(28)}!`;

beforeAll(async () => {
  server = await startCoordinator();
  ({ task_id: taskId } = await server.call<{ task_id: string }>("create_real_task", { description: "filters" }));
  ({ agent_id: agentId } = await server.call<{ agent_id: string }>("deploy_headless_agent", {
    task_id: taskId,
    agent_type: "printer",
    prompt: "p",
    command: ["bash", "-c", `yes '${LINE}' | head -n ${LINES}; echo done`],
  }));
  await server.call("wait_for_agents", { task_id: taskId, timeout_s: 60 });
});

afterAll(async () => {
  await server.close();
});

describe("get_agent_output's filter", () => {
  it("a catastrophic-backtracking pattern runs in linear time and does not hold a call made meanwhile", async () => {
    await server.call("list_real_tasks");
    const order: string[] = [];
    const filtered = server.client
      .callTool({ name: "get_agent_output", arguments: { task_id: taskId, agent_id: agentId, filter: "(a+)+$" } })
      .then((result) => {
        order.push("filter");
        return result as CallToolResult;
      });
    // Once a ping sent after it is answered, the server has begun the filter call: messages are taken in order.
    await server.client.ping();
    const listed = server.client.callTool({ name: "list_real_tasks", arguments: {} }).then(() => order.push("list"));
    const [result] = await Promise.all([filtered, listed]);
    expect(order).toEqual(["list", "filter"]);
    expect(result.isError).not.toBe(true);
    expect(result.structuredContent).toMatchObject({ total_lines: LINES + 1, returned_lines: 0, text: "" });
  });

  it("keeps the newest matching lines, with inline flags", async () => {
    const output = await server.call<{ returned_lines: number; text: string }>("get_agent_output", {
      task_id: taskId,
      agent_id: agentId,
      filter: "(?i)^A+!$",
      tail: 3,
    });
    expect(output).toMatchObject({ returned_lines: 3, text: `${LINE}\n${LINE}\n${LINE}\n` });
  });

  it("a pattern RE2 cannot run (lookaround, backreferences) is refused with what the syntax is", async () => {
    for (const filter of ["(?=a)b", "(a)\\1"]) {
      const refused = await server.refused("get_agent_output", { task_id: taskId, agent_id: agentId, filter });
      expect(refused).toMatch(/^INVALID_INPUT: filter: .*; filters use RE2 syntax/);
    }
  });

  it("a pattern whose program is too large to match a line in bounded time is refused", async () => {
    const refused = await server.refused("get_agent_output", { task_id: taskId, agent_id: agentId, filter: "[\\s\\S]{1000}[\\s\\S]{1000}" });
    expect(refused).toMatch(/^INVALID_INPUT: filter: too large: it compiles to \d+ instructions, more than 2000/);
  });
});
