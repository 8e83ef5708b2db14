import { describe, expect, it } from "vitest";
import { AGENT_STATUSES, canTransition, isTerminal, sourcesOf, statusForExit, TERMINAL_STATUSES } from "../src/domain/agent-state.js";
import { exited, signalled } from "./helpers/builders.js";

describe("the agent state machine", () => {
  it("starts a pending agent running, or ends it failed (its launch failed) or killed, and nothing else", () => {
    expect(AGENT_STATUSES.filter((to) => canTransition("pending", to))).toEqual(["running", "failed", "killed"]);
  });

  it("ends a running agent in any of the five terminal states, and never takes it back to pending", () => {
    expect(AGENT_STATUSES.filter((to) => canTransition("running", to))).toEqual([...TERMINAL_STATUSES]);
  });

  it("has exactly five terminal states: completed, failed, killed, crashed, timed_out", () => {
    expect(AGENT_STATUSES.filter(isTerminal)).toEqual(["completed", "failed", "killed", "crashed", "timed_out"]);
  });

  it.each(TERMINAL_STATUSES)("never leaves %s, the end of an agent happens once", (from) => {
    expect(AGENT_STATUSES.filter((to) => canTransition(from, to))).toEqual([]);
  });

  it("names as the sources of a state every state that leads to it: the WHERE of its conditional update", () => {
    expect(sourcesOf("running")).toEqual(["pending"]);
    expect(sourcesOf("completed")).toEqual(["running"]);
    expect(sourcesOf("killed")).toEqual(["pending", "running"]);
    expect(sourcesOf("pending")).toEqual([]);
  });
});

describe("an exit's status", () => {
  it.each([
    [exited(0), "completed"],
    [exited(1), "failed"],
    [exited(255), "failed"],
    [signalled("SIGSEGV"), "crashed"],
    [signalled("SIGKILL"), "crashed"],
  ])("is, for %j, %s", (exit, status) => {
    expect(statusForExit(exit)).toBe(status);
  });
});
