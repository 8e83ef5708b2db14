import { describe, expect, it } from "vitest";
import { metrics, type Metric } from "../soak/metrics.js";
import { judge } from "../soak/verdict.js";
import { soakSamples } from "./helpers/builders.js";

const metric = (key: Metric["key"]): Metric => metrics(8).find((m) => m.key === key) as Metric;
const KIB = 1024;

describe("a flat metric", () => {
  it("is OK when it rises during the warm-up third and then levels off", () => {
    const verdict = judge(metric("rssKiB"), soakSamples({ rssKiB: [80, 120, 140, 150, 151, 149, 150, 152, 150].map((m) => m * KIB) }));
    expect(verdict.verdict).toBe("OK");
  });

  it("is GROWING when the last third's median passes the middle third's by more than its slack", () => {
    const verdict = judge(metric("fds"), soakSamples({ fds: [20, 22, 24, 26, 28, 30, 32, 34, 36] }));
    expect(verdict).toMatchObject({ middle: 28, last: 34, verdict: "GROWING" });
  });

  it("is OK when it grows by no more than its slack", () => {
    expect(judge(metric("fds"), soakSamples({ fds: [20, 24, 24, 24, 24, 24, 28, 28, 28] })).verdict).toBe("OK");
  });

  it("is judged by medians, so one sample at a peak does not make it grow", () => {
    expect(judge(metric("processes"), soakSamples({ processes: [0, 20, 20, 20, 20, 20, 20, 90, 20] })).verdict).toBe("OK");
  });

  it("with no slack, grows by one", () => {
    expect(judge(metric("cleanupsPartial"), soakSamples({ cleanupsPartial: [0, 0, 0, 0, 0, 0, 1, 1, 1] })).verdict).toBe("GROWING");
  });

  it("is TOO SHORT to judge with fewer than six samples", () => {
    expect(judge(metric("fds"), soakSamples({ fds: [20, 30, 40, 50, 60] })).verdict).toBe("TOO SHORT");
  });
});

describe("a metric of history kept per lifecycle", () => {
  const lifecycles = [0, 100, 200, 300, 400, 500, 600, 700, 800];

  it("is OK while each lifecycle adds about the same bytes", () => {
    const verdict = judge(metric("dbBytes"), soakSamples({ lifecycles, dbBytes: lifecycles.map((n) => n * 4 * KIB) }));
    expect(verdict.verdict).toBe("OK");
    expect(verdict.note).toContain("4.00 KiB → 4.00 KiB per lifecycle");
  });

  it("is GROWING when each lifecycle costs more than twice what it did in the middle third", () => {
    const db = [0, 400, 800, 1200, 1600, 2000, 2400, 3600, 4800].map((k) => k * KIB);
    expect(judge(metric("dbBytes"), soakSamples({ lifecycles, dbBytes: db })).verdict).toBe("GROWING");
  });
});

describe("a metric shown for information", () => {
  it("has no verdict", () => {
    expect(judge(metric("lifecycles"), soakSamples({ lifecycles: [0, 1, 2, 3, 4, 5, 6] })).verdict).toBe("");
  });
});
