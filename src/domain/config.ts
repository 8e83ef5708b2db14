import { isAbsolute, join, posix } from "node:path";
import { z } from "zod";
import { fail, ok, type Result } from "./errors.js";

const positiveInt = z.coerce.number().int().positive();

/** Kernel file systems: nothing can be stored there, and creating dirs in them can fail oddly. */
const KERNEL_FS = ["/proc", "/sys"];

export function underKernelFs(path: string): boolean {
  const normal = posix.normalize(path);
  return KERNEL_FS.some((root) => normal === root || normal.startsWith(`${root}/`));
}

/** Where an agent runs: a plain child process, or a tmux session a person can attach to. */
export const RUNNER_KINDS = ["process", "tmux"] as const;
export type RunnerKind = (typeof RUNNER_KINDS)[number];

/** What an agent sees of the file system: everything you can (none), or a bubblewrap view. */
export const CONTAINMENTS = ["none", "bwrap", "auto"] as const;
export type Containment = (typeof CONTAINMENTS)[number];

/** How much corral logs, to stderr. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** A list of absolute paths, from a file's array or a variable's colon-separated string (like PATH). */
const pathList = z
  .preprocess((v) => (typeof v === "string" ? v.split(":").map((p) => p.trim()).filter(Boolean) : v), z.array(z.string().startsWith("/", "a path here must be absolute")))
  .default([]);

/** Every value corral reads, with its default; the README's configuration table mirrors this. */
export const ConfigSchema = z
  .object({
    home: z
      .string()
      .min(1)
      .refine((path) => !path.includes("\0"), "may not contain a NUL byte")
      .refine((path) => isAbsolute(path), "must be an absolute path (a relative one would depend on the current directory)")
      .refine((path) => !underKernelFs(path), "may not be under /proc or /sys: those hold no files of ours")
      .describe("state dir: database, workspaces, archives"),
    maxConcurrentAgents: positiveInt.default(20).describe("agents holding a slot at once, all tasks together"),
    maxAgentsPerTask: positiveInt.default(50).describe("agents one task may ever have"),
    maxDepth: z.coerce.number().int().min(0).default(3).describe("deepest child level (0 = no children)"),
    maxChildrenPerParent: positiveInt.default(5).describe("children one agent may spawn"),
    graceMs: z.coerce.number().int().min(0).default(5000).describe("SIGTERM to SIGKILL grace period"),
    runner: z.enum(RUNNER_KINDS).default("process").describe("where agents run unless a deploy says: process, or tmux (a session a person can attach to)"),
    subreaper: z
      .enum(["auto", "tini", "none"])
      .default("auto")
      .describe("run agents under tini as a child subreaper: auto uses it when found on PATH"),
    cgroups: z
      .enum(["auto", "on", "off"])
      .default("auto")
      .describe("give each agent a cgroup v2 of its own: auto when the hierarchy is writable, on to refuse to start without one, off never"),
    agentMemoryMb: z.coerce.number().int().min(0).default(0).describe("memory cap of each agent's cgroup, all its processes together (0 = none)"),
    agentPids: z.coerce.number().int().min(0).default(0).describe("process cap of each agent's cgroup (0 = none)"),
    containment: z
      .enum(CONTAINMENTS)
      .default("none")
      .describe("what an agent sees of the file system: none (all you can), bwrap (its cwd, its own dir and the paths allowed below), auto (bwrap when it works here)"),
    containmentReadOnly: pathList.describe("under bwrap, paths an agent may also read that its view hides (/tmp, home dirs, /run/user)"),
    containmentWritable: pathList.describe("under bwrap, paths an agent may also write (e.g. ~/.claude to keep claude's sessions)"),
    cleanupRetryMs: positiveInt.default(30_000).describe("how often a partial cleanup is retried"),
    shutdownDeadlineMs: positiveInt
      .default(3_000)
      .describe(
        "how long a shutdown may take, all agents together: an MCP client that closes stdin may send SIGKILL 4 s later (the SDK's does), a container runtime after 10 s",
      ),
    onShutdown: z
      .enum(["terminate", "detach"])
      .default("terminate")
      .describe("on shutdown, kill this corral's agents, or leave them running for the next corral to adopt"),
    reapMs: positiveInt.default(10_000).describe("how often running agents are checked for being stuck or over time"),
    stuckMs: positiveInt.default(900_000).describe("no output and no progress for this long makes an agent stuck"),
    onStuck: z.enum(["flag", "terminate"]).default("flag").describe("flag a stuck agent in status, or kill it with reason 'stuck'"),
    maxRuntimeMs: z.coerce.number().int().min(0).default(0).describe("wall-clock limit per agent, ending it timed_out (0 = none)"),
    retentionDays: z.coerce.number().min(0).default(30).describe("archived logs older than this are deleted by gc (0 = keep none)"),
    taskDiskBudgetMb: z.coerce.number().positive().default(1024).describe("a task's logs and archives together; gc deletes its oldest archives past it"),
    diskBudgetMb: z.coerce.number().positive().default(10_240).describe("all tasks' logs and archives; gc deletes the oldest archives past it"),
    gcMs: positiveInt.default(3_600_000).describe("how often a watching corral runs gc"),
    agentOpenFiles: z.coerce.number().int().min(0).default(0).describe("open-file limit of each agent process (0 = inherited)"),
    agentAddressSpaceMb: z.coerce.number().int().min(0).default(0).describe("address-space limit of each agent process (0 = none)"),
    agentCpuSeconds: z.coerce.number().int().min(0).default(0).describe("CPU-time limit of each agent process (0 = none)"),
    ballastMb: z.coerce.number().min(0).default(8).describe("space reserved in the state dir, freed when the disk fills so corral can still record"),
    minFreeMb: z.coerce.number().min(0).default(512).describe("free space under the state dir below which deploys are refused"),
    diskReserveMb: z.coerce
      .number()
      .min(0)
      .default(64)
      .describe("free space under the state dir below which the agent whose log grows fastest is stopped, one a second (0 = never)"),
    reconcileMs: positiveInt.default(5_000).describe("how often agents whose corral died are looked for"),
    orphans: z
      .enum(["adopt", "terminate"])
      .default("adopt")
      .describe("what to do with an agent whose corral died: watch it to its end, or kill it"),
    logLevel: z.enum(LOG_LEVELS).default("info"),
    claudePath: z.string().min(1).default("claude").describe("the claude executable: a path, or a name on PATH"),
    claudePermissionMode: z
      .enum(["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"])
      .default("acceptEdits")
      .describe("--permission-mode for claude agents"),
    claudeAllowedTools: z
      .preprocess((v) => (typeof v === "string" ? v.split(",").map((t) => t.trim()).filter(Boolean) : v), z.array(z.string().min(1)))
      .default([])
      .describe("tools claude agents may use without asking, besides corral's"),
    claudeStrictMcp: z
      .preprocess((v) => (v === "1" || v === "true" ? true : v === "0" || v === "false" ? false : v), z.boolean())
      .default(false)
      .describe("give claude agents only corral's MCP server, not the project's"),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigKey = keyof Config;

export const CONFIG_ENV: Readonly<Record<ConfigKey, string>> = {
  home: "CORRAL_HOME",
  maxConcurrentAgents: "CORRAL_MAX_CONCURRENT_AGENTS",
  maxAgentsPerTask: "CORRAL_MAX_AGENTS_PER_TASK",
  maxDepth: "CORRAL_MAX_DEPTH",
  maxChildrenPerParent: "CORRAL_MAX_CHILDREN_PER_PARENT",
  graceMs: "CORRAL_GRACE_MS",
  runner: "CORRAL_RUNNER",
  subreaper: "CORRAL_SUBREAPER",
  cgroups: "CORRAL_CGROUPS",
  agentMemoryMb: "CORRAL_AGENT_MEMORY_MB",
  agentPids: "CORRAL_AGENT_PIDS",
  containment: "CORRAL_CONTAINMENT",
  containmentReadOnly: "CORRAL_CONTAINMENT_READ_ONLY",
  containmentWritable: "CORRAL_CONTAINMENT_WRITABLE",
  cleanupRetryMs: "CORRAL_CLEANUP_RETRY_MS",
  shutdownDeadlineMs: "CORRAL_SHUTDOWN_DEADLINE_MS",
  onShutdown: "CORRAL_ON_SHUTDOWN",
  reapMs: "CORRAL_REAP_MS",
  stuckMs: "CORRAL_STUCK_MS",
  onStuck: "CORRAL_ON_STUCK",
  maxRuntimeMs: "CORRAL_MAX_RUNTIME_MS",
  retentionDays: "CORRAL_RETENTION_DAYS",
  taskDiskBudgetMb: "CORRAL_TASK_DISK_BUDGET_MB",
  diskBudgetMb: "CORRAL_DISK_BUDGET_MB",
  gcMs: "CORRAL_GC_MS",
  agentOpenFiles: "CORRAL_AGENT_OPEN_FILES",
  agentAddressSpaceMb: "CORRAL_AGENT_ADDRESS_SPACE_MB",
  agentCpuSeconds: "CORRAL_AGENT_CPU_SECONDS",
  ballastMb: "CORRAL_BALLAST_MB",
  minFreeMb: "CORRAL_MIN_FREE_MB",
  diskReserveMb: "CORRAL_DISK_RESERVE_MB",
  reconcileMs: "CORRAL_RECONCILE_MS",
  orphans: "CORRAL_ORPHANS",
  logLevel: "CORRAL_LOG_LEVEL",
  claudePath: "CORRAL_CLAUDE_PATH",
  claudePermissionMode: "CORRAL_CLAUDE_PERMISSION_MODE",
  claudeAllowedTools: "CORRAL_CLAUDE_ALLOWED_TOOLS",
  claudeStrictMcp: "CORRAL_CLAUDE_STRICT_MCP",
};

/** The config file's path: CORRAL_CONFIG, else config.json in the state dir. */
export function configFilePath(env: NodeJS.ProcessEnv, userHome: string): string {
  return env.CORRAL_CONFIG ?? join(defaultHome(env, userHome), "config.json");
}

function defaultHome(env: NodeJS.ProcessEnv, userHome: string): string {
  return env.CORRAL_HOME ?? join(userHome, ".corral");
}

/**
 * Defaults, then the config file, then the environment: the later source wins, so one run can
 * override a file without editing it.
 */
export function resolveConfig(
  env: NodeJS.ProcessEnv,
  file: Record<string, unknown> | null,
  userHome: string,
): Result<Config> {
  const merged: Record<string, unknown> = { home: join(userHome, ".corral"), ...(file ?? {}) };
  for (const [key, name] of Object.entries(CONFIG_ENV)) {
    const value = env[name];
    if (value !== undefined && value !== "") merged[key] = value;
  }
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const from = key in CONFIG_ENV && env[CONFIG_ENV[key as ConfigKey]] !== undefined ? CONFIG_ENV[key as ConfigKey] : key;
      return `${from || "config"}: ${issue.message}`;
    });
    return fail("CONFIG_INVALID", `invalid configuration: ${problems.join("; ")}`);
  }
  return ok(parsed.data);
}
