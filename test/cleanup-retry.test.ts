import { describe, expect, it } from "vitest";
import { CLEANUP_STEPS, stepsToRetry } from "../src/lifecycle/cleanup.js";
import { cleanupStep } from "./helpers/builders.js";

/** A first cleanup that ran every step, where the given ones failed. */
const firstAttempt = (...failed: string[]) =>
  CLEANUP_STEPS.map((step) => cleanupStep(step, failed.includes(step) ? { outcome: "failed", error: "it failed" } : {}));

describe("the retry of a partial cleanup", () => {
  it("runs again only the steps that failed, in cleanup order", () => {
    expect(stepsToRetry(firstAttempt("release_slot", "archive_log"), 1)).toEqual(["archive_log", "release_slot"]);
  });

  it.each(["terminate", "verify"])("runs terminate and verify together when %s failed: a proof needs its kill", (failed) => {
    expect(stepsToRetry(firstAttempt(failed, "delete_temp_files"), 1)).toEqual(["terminate", "verify", "delete_temp_files"]);
  });

  it("runs nothing when nothing failed, and does not retry a skipped step", () => {
    const skipped = firstAttempt().map((step) => (step.step === "close_session" ? { ...step, outcome: "skipped" as const } : step));
    expect(stepsToRetry(skipped, 1)).toEqual([]);
  });

  it("looks only at the last attempt: what failed before and was retried is not run again", () => {
    const recorded = [
      ...firstAttempt("archive_log", "delete_temp_files"),
      cleanupStep("archive_log", { attempt: 2 }),
      cleanupStep("delete_temp_files", { attempt: 2, outcome: "failed" }),
    ];
    expect(stepsToRetry(recorded, 2)).toEqual(["delete_temp_files"]);
  });

  it("runs no step it does not know", () => {
    expect(stepsToRetry([cleanupStep("format_disk", { outcome: "failed" }), cleanupStep("close_session", { outcome: "failed" })], 1)).toEqual([
      "close_session",
    ]);
  });

  it("can run every step again", () => {
    expect(stepsToRetry(firstAttempt(...CLEANUP_STEPS), 1)).toEqual([...CLEANUP_STEPS]);
  });
});
