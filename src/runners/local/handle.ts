import * as z from "zod";
import { markedScope, type AgentScope } from "../../supervisor/discover.js";

/**
 * What a local runner keeps of an agent: the mark every process of it inherits and its cgroup
 * from the placement on, and from the start on the root process (pid and start time name it
 * for its whole life), the session it leads, and whether it is a subreaper. Everything
 * discovery and termination need after any restart.
 */
export const LocalRootSchema = z.object({
  pid: z.number().int().positive(),
  startTime: z.string().regex(/^\d+$/),
  sid: z.number().int(),
  subreaper: z.boolean(),
});
export type LocalRoot = z.infer<typeof LocalRootSchema>;

export const localHandleFields = {
  /** `NAME=value`, first in the agent's environment. */
  mark: z.string().min(3),
  /** The agent's own cgroup dir, or null when it runs without one. */
  cgroup: z.string().nullable(),
  /** null until the agent started (and for good when its start failed). */
  root: LocalRootSchema.nullable(),
};

export type LocalHandle = {
  readonly mark: string;
  readonly cgroup: string | null;
  readonly root: LocalRoot | null;
};

/**
 * The processes a handle names: from its root when it started, else by its mark (and its
 * cgroup), which whatever of it did start carries.
 */
export function scopeOf(handle: LocalHandle): AgentScope {
  if (handle.root === null) return markedScope(handle.mark, handle.cgroup);
  const { pid, startTime, sid, subreaper } = handle.root;
  return { root: { pid, startTime }, sid, subreaper, mark: handle.mark, cgroup: handle.cgroup };
}
