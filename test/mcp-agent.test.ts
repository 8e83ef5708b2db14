import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";

describe("corral serve --agent without a valid token", () => {
  let missing: Coordinator;
  let wrong: Coordinator;
  beforeAll(async () => {
    missing = await startCoordinator({}, ["--agent"]);
    wrong = await startCoordinator({ CORRAL_AGENT_TOKEN: "not-a-token" }, ["--agent"]);
  });
  afterAll(async () => {
    await missing.close();
    await wrong.close();
  });

  it("offers exactly the agent's four tools", async () => {
    const { tools } = await missing.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["get_task_context", "report_agent_finding", "spawn_child_agent", "update_agent_progress"]);
    expect(tools.find((t) => t.name === "get_task_context")?.annotations?.readOnlyHint).toBe(true);
  });

  it.each([
    ["update_agent_progress", { status: "working", message: "m" }],
    ["report_agent_finding", { finding_type: "bug", severity: "low", message: "m" }],
    ["spawn_child_agent", { child_agent_type: "helper", child_prompt: "p" }],
    ["get_task_context", {}],
  ])("%s is refused with a message that says why", async (tool, args) => {
    expect(await missing.refused(tool, args)).toMatch(/^AUTH_REFUSED: no CORRAL_AGENT_TOKEN in this server's environment/);
    expect(await wrong.refused(tool, args)).toMatch(/^AUTH_REFUSED: CORRAL_AGENT_TOKEN matches no agent/);
  });

  it.each([
    ["update_agent_progress", { message: "m" }, /status/],
    ["update_agent_progress", { status: "working", message: "m", progress: 101 }, /progress/],
    ["update_agent_progress", { status: "", message: "m" }, /status/],
    ["report_agent_finding", { finding_type: "bug", severity: "dire", message: "m" }, /severity/],
    ["report_agent_finding", { finding_type: "bug", severity: "low" }, /message/],
    ["spawn_child_agent", { child_prompt: "p" }, /child_agent_type/],
    ["spawn_child_agent", { child_agent_type: "h", child_prompt: "p", effort: "extreme" }, /effort/],
  ])("%s %j gets an input error", async (tool, args, expected) => {
    expect(await missing.refused(tool, args)).toMatch(expected);
  });
});
