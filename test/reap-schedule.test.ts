import { describe, expect, it } from "vitest";
import type { AgentId } from "../src/domain/ids.js";
import { ReapSchedule, type ReapMember } from "../src/lifecycle/reap-schedule.js";
import { nextLook } from "../src/lifecycle/reaper.js";
import { agentRecord, config } from "./helpers/builders.js";

const id = (name: string): AgentId => `w-000000-${name}` as AgentId;
const member = (name: string): ReapMember => ({ id: id(name), taskId: "t", logPath: `/w/logs/${name}.log` });
const STARTED = 1_000;
/** A log last written at `at`, as the reaper's probe reads it. */
const written = (at: number) => ({ modifiedAt: () => at });

describe("the reaper's due-list", () => {
  it("has a new agent due at once, and one looked at due only when it said", () => {
    const schedule = new ReapSchedule();
    schedule.sync("m1", () => [member("00000a")]);
    expect(schedule.due(0)).toEqual([id("00000a")]);
    schedule.later(id("00000a"), 5_000);
    expect(schedule.due(4_999)).toEqual([]);
    expect(schedule.due(5_000)).toEqual([id("00000a")]);
  });

  it("reads the members again only when the store's change mark moved", () => {
    const schedule = new ReapSchedule();
    let reads = 0;
    const read = (members: ReapMember[]) => () => {
      reads += 1;
      return members;
    };
    schedule.sync("m1", read([member("00000a")]));
    schedule.sync("m1", read([member("00000a"), member("00000b")]));
    expect(reads).toBe(1);
    expect([...schedule.all()].map((m) => m.id)).toEqual([id("00000a")]);
    schedule.sync("m2", read([member("00000b")]));
    expect(reads).toBe(2);
    expect([...schedule.all()].map((m) => m.id)).toEqual([id("00000b")]);
  });

  it("keeps when an agent already known is due across a new read of the members", () => {
    const schedule = new ReapSchedule();
    schedule.sync("m1", () => [member("00000a")]);
    schedule.later(id("00000a"), 5_000);
    schedule.sync("m2", () => [member("00000a"), member("00000b")]);
    expect(schedule.due(1_000)).toEqual([id("00000b")]);
  });

  it("forgets a dropped agent, and takes no due time for one it does not hold", () => {
    const schedule = new ReapSchedule();
    schedule.sync("m1", () => [member("00000a")]);
    schedule.drop(id("00000a"));
    schedule.later(id("00000a"), 0);
    expect(schedule.due(1e12)).toEqual([]);
  });
});

describe("when the reaper looks at an agent again", () => {
  it("at its wall-clock limit, when that comes before it could be stuck", () => {
    const agent = agentRecord({ startedAt: STARTED });
    expect(nextLook(agent, config({ maxRuntimeMs: 60_000, stuckMs: 900_000 }), STARTED, written(0))).toBe(STARTED + 60_001);
  });

  it("at its own max_runtime_s over maxRuntimeMs", () => {
    const agent = agentRecord({ startedAt: STARTED, spec: { maxRuntimeMs: 5_000 } });
    expect(nextLook(agent, config({ maxRuntimeMs: 60_000 }), STARTED, written(0))).toBe(STARTED + 5_001);
  });

  it("stuckMs after its last sign of life: its start, its last report or its log's last write", () => {
    const settings = config({ stuckMs: 10_000 });
    expect(nextLook(agentRecord({ startedAt: STARTED }), settings, STARTED, written(0))).toBe(STARTED + 10_001);
    expect(nextLook(agentRecord({ startedAt: STARTED, lastEventAt: 7_000 }), settings, 8_000, written(0))).toBe(17_001);
    expect(nextLook(agentRecord({ startedAt: STARTED, lastEventAt: 7_000 }), settings, 9_000, written(8_000))).toBe(18_001);
  });

  it("at the next round while it is flagged stuck, so the flag lifts once it moves", () => {
    expect(nextLook(agentRecord({ stuckSince: STARTED }), config(), 50_000, written(0))).toBe(50_000);
  });

  it("at the next round while resource limits are set: only its processes tell how near it is", () => {
    expect(nextLook(agentRecord(), config({ agentOpenFiles: 64 }), 50_000, written(0))).toBe(50_000);
  });
});
