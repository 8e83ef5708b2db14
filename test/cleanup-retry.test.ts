import { describe, expect, it } from "vitest";
import { CLEANUP_STEPS, stepsToRetry } from "../src/lifecycle/cleanup.js";

describe("the retry of a partial cleanup", () => {
  it("runs again only the steps that failed, in cleanup order", () => {
    expect(stepsToRetry(new Set(["release_slot", "archive_log"]))).toEqual(["archive_log", "release_slot"]);
  });

  it.each(["terminate", "verify"])("runs terminate and verify together when %s failed: a proof needs its kill", (failed) => {
    expect(stepsToRetry(new Set([failed, "delete_temp_files"]))).toEqual(["terminate", "verify", "delete_temp_files"]);
  });

  it("runs nothing when nothing failed", () => {
    expect(stepsToRetry(new Set())).toEqual([]);
  });

  it("runs no step it does not know", () => {
    expect(stepsToRetry(new Set(["format_disk", "close_session"]))).toEqual(["close_session"]);
  });

  it("can run every step again", () => {
    expect(stepsToRetry(new Set(CLEANUP_STEPS))).toEqual([...CLEANUP_STEPS]);
  });
});
