import { describe, expect, it } from "vitest";
import { resolveConfig } from "../src/domain/config.js";
import { BACKEND_SECTIONS } from "../src/backends/registry.js";
import { AgentIdSchema, AgentTypeSchema, newAgentId, newTaskId, TaskIdSchema } from "../src/domain/ids.js";
import { resolveInside } from "../src/domain/paths.js";

describe("an id", () => {
  it("of a task or an agent has the documented shape, from UTC time", () => {
    const at = new Date(Date.UTC(2026, 10, 21, 6, 5, 9));
    const task = newTaskId(at);
    expect(task).toMatch(/^TASK-20261121-060509-[0-9a-f]{8}$/);
    expect(TaskIdSchema.safeParse(task).success).toBe(true);
    const agent = newAgentId(AgentTypeSchema.parse("code_review-2"), at);
    expect(agent).toMatch(/^code_review-2-060509-[0-9a-f]{6}$/);
    expect(AgentIdSchema.safeParse(agent).success).toBe(true);
  });

  it.each(["", "A", "a b", "a/b", "a.b", "é", "a".repeat(41)])("is refused with the agent type %j: lower-case letters, digits, _ and -, at most 40", (type) => {
    expect(AgentTypeSchema.safeParse(type).success).toBe(false);
  });
});

describe("the configuration", () => {
  it("takes the defaults, then the file, then the environment: the later wins", () => {
    const config = resolveConfig({ CORRAL_GRACE_MS: "250" }, { graceMs: 100, maxDepth: 1 }, "/home/u", BACKEND_SECTIONS);
    expect(config).toMatchObject({ ok: true, value: { home: "/home/u/.corral", graceMs: 250, maxDepth: 1, maxConcurrentAgents: 20 } });
  });

  it("names the variable or the key that is wrong", () => {
    const fromEnv = resolveConfig({ CORRAL_MAX_DEPTH: "deep" }, null, "/h", BACKEND_SECTIONS);
    expect(fromEnv.ok ? "" : fromEnv.error.message).toContain("CORRAL_MAX_DEPTH");
    const fromFile = resolveConfig({}, { graceMs: -1, colour: "red" }, "/h", BACKEND_SECTIONS);
    expect(fromFile.ok ? "" : fromFile.error.code).toBe("CONFIG_INVALID");
    expect(fromFile.ok ? "" : fromFile.error.message).toMatch(/graceMs|colour/);
  });
});

describe("a path from a caller", () => {
  it.each([["a/b", true], ["../a", false], ["/etc/passwd", false], ["a/../../b", false], ["a\0b", false], ["..", false]])(
    "stays inside its root or is refused: %j allowed %s",
    (candidate, allowed) => {
      expect(resolveInside("/root/ws", candidate).ok).toBe(allowed);
    },
  );
});
