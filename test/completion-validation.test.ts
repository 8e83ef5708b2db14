import { describe, expect, it } from "vitest";
import { validateCompletion } from "../src/domain/validation.js";
import { completionEvidence } from "./helpers/builders.js";

describe("completion validation", () => {
  it("is confident, without a warning, when every piece of evidence is there", () => {
    expect(validateCompletion(completionEvidence())).toMatchObject({ confidence: "high", score: 100, warnings: [] });
  });

  it.each([
    [{ status: "killed" as const }, 'the agent ended killed, not completed', "none"],
    [{ result: null }, "its output stream has no final result", "medium"],
    [{ result: { isError: true, text: "API Error" } }, "its CLI reported an error: API Error", "low"],
    [{ result: { isError: true, text: null } }, "its CLI reported an error: no detail", "low"],
    [{ corralConnected: false }, "corral's MCP server did not connect: the agent could not report", "medium"],
    [{ claimedDone: false }, 'it never reported status "completed"', "medium"],
    [{ progressReports: 0 }, "it never reported progress", "medium"],
    [{ findings: 0, filesChanged: 0 }, "it reported no findings and changed no file in its working dir", "medium"],
  ])("warns, for %j, that %s, and is no more than %s", (change, warning, confidence) => {
    expect(validateCompletion(completionEvidence(change))).toMatchObject({ warnings: [warning], confidence });
  });

  it("does not take an exit 0 at its word: a silent agent that exited 0 has low confidence", () => {
    const silent = completionEvidence({ claimedDone: false, progressReports: 0, findings: 0, filesChanged: 0, corralConnected: false });
    expect(validateCompletion(silent)).toMatchObject({ confidence: "low", score: 10 });
  });

  it("asks for a final result only of a CLI that streams one", () => {
    expect(validateCompletion(completionEvidence({ streamed: false, result: null })).warnings).toEqual([]);
  });

  it("does not warn about changes it could not count", () => {
    expect(validateCompletion(completionEvidence({ findings: 0, filesChanged: null })).warnings).toEqual([]);
  });

  it("keeps its score at 0 or above, and says none at 0", () => {
    const worst = completionEvidence({ status: "failed", result: { isError: true, text: "x" }, claimedDone: false, progressReports: 0 });
    expect(validateCompletion(worst)).toMatchObject({ score: 0, confidence: "none" });
  });

  it.each([
    [{ claimedDone: false }, 80, "medium"],
    [{ result: null }, 60, "medium"],
    [{ result: null, claimedDone: false }, 40, "low"],
  ])("grades %j, scored %d, as %s: medium from 60 up, low below", (change, score, confidence) => {
    expect(validateCompletion(completionEvidence(change))).toMatchObject({ score, confidence });
  });
});
