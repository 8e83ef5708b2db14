import { describe, expect, it } from "vitest";
import type { AgentId } from "../src/domain/ids.js";
import { planDiskFloor } from "../src/lifecycle/disk-floor.js";

const log = (id: string, grew: number, bytes = grew) => ({ id: id as AgentId, grew, bytes });
const RESERVE = 64e6;

describe("the disk reserve", () => {
  it("stops nobody while the free space is at or above the reserve, and so nobody ever with a reserve of 0", () => {
    expect(planDiskFloor([log("a", 1e9)], 100e6, RESERVE)).toBeNull();
    expect(planDiskFloor([log("a", 1e9)], RESERVE, RESERVE)).toBeNull();
    expect(planDiskFloor([log("a", 1e9)], 0, 0)).toBeNull();
  });

  it("below the reserve, stops the log that grew most since the last check, not the largest", () => {
    expect(planDiskFloor([log("a", 10, 9e9), log("b", 5e6), log("c", 1e6)], 1e6, RESERVE)?.id).toBe("b");
  });

  it("stops one at a time", () => {
    expect(planDiskFloor([log("a", 5e6), log("b", 5e6)], 1e6, RESERVE)).toEqual(log("a", 5e6));
  });

  it("stops nobody when no log is growing", () => {
    expect(planDiskFloor([log("a", 0, 1e9), log("b", -10, 1e9)], 1e6, RESERVE)).toBeNull();
  });
});
