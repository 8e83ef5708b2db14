import { z } from "zod";
import { localHandleFields } from "../../src/runners/local/handle.js";

const LocalHandleSchema = z.object(localHandleFields);

/** What a local runner's handle on an agent row says: its mark, cgroup and root. */
export function localHandle(agent: { readonly handle: unknown }): z.infer<typeof LocalHandleSchema> {
  return LocalHandleSchema.parse(agent.handle);
}

/**
 * The handle a process runner would have recorded for a process a test started itself, with
 * `CORRAL_MARK=<mark>` in its environment (a test standing in for a launching corral).
 */
export function processHandle(name: string, mark: string, root: { pid: number; startTime: string; sid: number }): unknown {
  return { runner: "process", name, mark: `CORRAL_MARK=${mark}`, cgroup: null, root: { ...root, subreaper: false } };
}
