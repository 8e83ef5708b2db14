import type { Config } from "./config.js";

/** Limits on each of an agent's processes (rlimits are per process); 0 means none set. */
export interface ResourceLimits {
  readonly openFiles: number;
  readonly addressSpaceMb: number;
  readonly cpuSeconds: number;
}

export const limitsOf = (config: Config): ResourceLimits => ({
  openFiles: config.agentOpenFiles,
  addressSpaceMb: config.agentAddressSpaceMb,
  cpuSeconds: config.agentCpuSeconds,
});

export const anyLimit = (limits: ResourceLimits): boolean => limits.openFiles > 0 || limits.addressSpaceMb > 0 || limits.cpuSeconds > 0;

/**
 * `prlimit` options for the limits that are set. The CPU hard limit is a second above the soft
 * one, so that the process first gets SIGXCPU, which names the limit it crossed.
 */
export function prlimitOptions(limits: ResourceLimits): string[] {
  const options: string[] = [];
  if (limits.openFiles > 0) options.push(`--nofile=${limits.openFiles}:${limits.openFiles}`);
  if (limits.addressSpaceMb > 0) {
    const bytes = limits.addressSpaceMb * 1024 * 1024;
    options.push(`--as=${bytes}:${bytes}`);
  }
  if (limits.cpuSeconds > 0) options.push(`--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 1}`);
  return options;
}

export interface ProcessUsage {
  readonly pid: number;
  readonly openFiles: number;
  readonly addressSpaceMb: number;
  readonly residentMb: number;
  readonly cpuSeconds: number;
}

const WARN_AT = 0.8;

/**
 * The limit a process has reached, if any. The kernel enforces open files and address space by
 * refusing (EMFILE, ENOMEM) rather than by stopping the process, so an agent at the limit is
 * stopped here, with a reason that names it.
 */
export function limitReached(limits: ResourceLimits, usage: readonly ProcessUsage[]): string | null {
  for (const process of usage) {
    if (limits.openFiles > 0 && process.openFiles >= limits.openFiles) {
      return `pid ${process.pid} reached its open-file limit (agentOpenFiles=${limits.openFiles})`;
    }
    if (limits.addressSpaceMb > 0 && process.addressSpaceMb >= 0.95 * limits.addressSpaceMb) {
      return `pid ${process.pid} reached its address-space limit (agentAddressSpaceMb=${limits.addressSpaceMb})`;
    }
  }
  return null;
}

/** A warning for each process past 80 % of a limit, naming the limit and the process. */
export function limitWarnings(limits: ResourceLimits, usage: readonly ProcessUsage[]): string[] {
  const warnings: string[] = [];
  const check = (name: string, key: keyof ResourceLimits & keyof ProcessUsage, setting: string): void => {
    const limit = limits[key];
    if (limit <= 0) return;
    for (const process of usage) {
      const share = process[key] / limit;
      if (share >= WARN_AT) warnings.push(`${name} at ${Math.round(share * 100)} % of ${setting}=${limit} (pid ${process.pid})`);
    }
  };
  check("open files", "openFiles", "agentOpenFiles");
  check("address space", "addressSpaceMb", "agentAddressSpaceMb");
  check("CPU time", "cpuSeconds", "agentCpuSeconds");
  return warnings;
}
