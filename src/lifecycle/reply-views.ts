import * as z from "zod";
import { JsonRecord } from "../contract/wire.js";
import { RUNNER_KINDS } from "../domain/config.js";
import { AgentView, CleanupHealthView, CleanupRecordView, EventView, PageView, TaskSummaryView, TotalsView } from "./views.js";

/**
 * What the tools and commands answer beyond the state views: a created task, a deployed agent,
 * a kill, a wait, a report; `corral stats` and `corral gc`. camelCase here, like every view;
 * contract/ publishes them in snake_case.
 */

export const CreatedTaskView = z.object({ taskId: z.string(), workspace: z.string(), status: z.literal("created") });

export const DeployedView = z.object({
  agentId: z.string(),
  taskId: z.string(),
  status: z.string(),
  depth: z.number().int(),
  pid: z.number().int().nullable(),
  runner: z.enum(RUNNER_KINDS),
  watch: z.string().optional().describe("for a tmux agent: the command that shows it live in a terminal"),
});
export type DeployedView = z.infer<typeof DeployedView>;

export const KillView = z.object({
  killedNow: z.boolean().describe("false when the agent had already ended: nothing was done, the record is the earlier one"),
  agent: AgentView,
  cleanup: CleanupRecordView,
});

export const TaskPageView = z.object({ page: PageView, tasks: z.array(TaskSummaryView) });

/** A page of agents across tasks (`corral ps --json`): the counts and totals over the whole list first. */
export const AgentPageView = z.object({
  counts: z.record(z.string(), z.number().int()),
  totals: TotalsView,
  page: PageView,
  agents: z.array(AgentView),
});
export type AgentPageView = z.infer<typeof AgentPageView>;

/** A task's timeline as its resource shows it: the newest events, oldest first, and how many there are in all. */
export const TimelineView = z.object({ total: z.number().int(), events: z.array(EventView) });
export type TimelineView = z.infer<typeof TimelineView>;

export const WaitView = z.object({
  satisfied: z.boolean(),
  total: z.number().int(),
  ended: z.number().int(),
  agents: z.array(AgentView).describe("the agents that ended first, then the others"),
  truncated: z.boolean().optional().describe("more agents than shown: get_real_task_status pages through all of them"),
});

export const ReportedView = z.object({ recorded: z.boolean(), eventId: z.number().int() });

export const SpawnedView = z.object({ agentId: z.string(), taskId: z.string(), status: z.string(), depth: z.number().int() });

export const TaskContextView = z.object({
  taskId: z.string(),
  description: z.string(),
  /** The task's shared context, as the coordinator gave it. */
  context: JsonRecord(),
  agent: z.object({ agentId: z.string(), type: z.string(), parent: z.string().nullable(), depth: z.number().int() }),
});

/** Logs and archives per task: task ids to bytes. */
const DiskUse = z.object({ totalBytes: z.number().int(), tasks: z.record(z.string(), z.number().int()) });

export const StatsView = z.object({
  agents: z.array(
    z.object({
      agentId: z.string(),
      taskId: z.string(),
      processes: z.number().int(),
      residentMb: z.number(),
      cpuSeconds: z.number(),
      openFiles: z.number().int(),
      logBytes: z.number().int(),
      cgroup: z.string().nullable(),
      runner: z.object({ kind: z.enum(RUNNER_KINDS), processes: z.number().int(), residentMb: z.number() }),
    }),
  ),
  disk: DiskUse,
  cleanupHealth: CleanupHealthView,
});

export const GcView = z.object({
  dryRun: z.boolean(),
  archivesDeleted: z.array(
    z.object({ agentId: z.string(), taskId: z.string(), bytes: z.number().int(), reason: z.enum(["expired", "task budget", "disk budget"]) }),
  ),
  tempRemoved: z.array(z.object({ path: z.string(), bytes: z.number().int() })),
  transcriptsDeleted: z.array(z.object({ agentId: z.string(), path: z.string(), bytes: z.number().int() })),
  bytesFreed: z.number().int(),
  usage: DiskUse,
  cleanupHealth: CleanupHealthView,
});
