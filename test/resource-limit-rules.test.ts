import { describe, expect, it } from "vitest";
import { anyLimit, limitReached, limitsOf, limitWarnings, prlimitOptions, type ResourceLimits } from "../src/domain/resource-limits.js";
import { config, usage } from "./helpers/builders.js";

const none: ResourceLimits = { openFiles: 0, addressSpaceMb: 0, cpuSeconds: 0 };
const all: ResourceLimits = { openFiles: 100, addressSpaceMb: 1000, cpuSeconds: 60 };

describe("the resource limits of an agent's processes", () => {
  it("are read from agentOpenFiles, agentAddressSpaceMb and agentCpuSeconds; 0 sets none", () => {
    expect(limitsOf(config({ agentOpenFiles: 100, agentAddressSpaceMb: 1000, agentCpuSeconds: 60 }))).toEqual(all);
    expect(anyLimit(limitsOf(config()))).toBe(false);
    for (const one of ["openFiles", "addressSpaceMb", "cpuSeconds"] as const) expect(anyLimit({ ...none, [one]: 1 })).toBe(true);
  });

  it("become prlimit options for the limits set only, the address space in bytes", () => {
    expect(prlimitOptions(none)).toEqual([]);
    expect(prlimitOptions({ ...none, openFiles: 100, addressSpaceMb: 2 })).toEqual(["--nofile=100:100", "--as=2097152:2097152"]);
  });

  it("put the CPU hard limit a second above the soft one, so the process first gets SIGXCPU", () => {
    expect(prlimitOptions({ ...none, cpuSeconds: 60 })).toEqual(["--cpu=60:61"]);
  });
});

describe("a process at its limit", () => {
  it("has reached the open-file limit with as many descriptors open as allowed", () => {
    expect(limitReached(all, [usage({ pid: 7, openFiles: 99 })])).toBeNull();
    expect(limitReached(all, [usage({ pid: 7, openFiles: 100 })])).toBe("pid 7 reached its open-file limit (agentOpenFiles=100)");
  });

  it("has reached the address-space limit at 95 % of it, before allocations start to fail", () => {
    expect(limitReached(all, [usage({ pid: 7, addressSpaceMb: 949 })])).toBeNull();
    expect(limitReached(all, [usage({ pid: 7, addressSpaceMb: 950 })])).toBe("pid 7 reached its address-space limit (agentAddressSpaceMb=1000)");
  });

  it("is named when it is any one of the agent's processes", () => {
    expect(limitReached(all, [usage({ pid: 7 }), usage({ pid: 8, openFiles: 100 })])).toMatch(/^pid 8 /);
  });

  it("is never one under a limit that is not set", () => {
    expect(limitReached(none, [usage({ openFiles: 1e6, addressSpaceMb: 1e6 })])).toBeNull();
  });

  it("is never stopped for CPU time: the kernel's SIGXCPU does that", () => {
    expect(limitReached(all, [usage({ cpuSeconds: 1e6 })])).toBeNull();
  });
});

describe("a warning about a limit", () => {
  it("is given for each process from 80 % of each limit set, naming the limit, the share and the pid", () => {
    expect(limitWarnings(all, [usage({ pid: 7, openFiles: 79, addressSpaceMb: 799, cpuSeconds: 47 })])).toEqual([]);
    expect(limitWarnings(all, [usage({ pid: 7, openFiles: 80 }), usage({ pid: 8, addressSpaceMb: 900, cpuSeconds: 60 })])).toEqual([
      "open files at 80 % of agentOpenFiles=100 (pid 7)",
      "address space at 90 % of agentAddressSpaceMb=1000 (pid 8)",
      "CPU time at 100 % of agentCpuSeconds=60 (pid 8)",
    ]);
  });

  it("is never given under a limit that is not set", () => {
    expect(limitWarnings(none, [usage({ openFiles: 1e6, addressSpaceMb: 1e6, cpuSeconds: 1e6 })])).toEqual([]);
  });
});
