import { isAbsolute, join, posix } from "node:path";
import * as z from "zod";
import { fail, ok, type Result } from "./errors.js";
import { LOG_LEVELS } from "./log-levels.js";

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

/** What a tool answer's text holds: its JSON, a brief of it, or whichever the client's name calls for. */
export const MCP_TEXTS = ["auto", "json", "brief"] as const;
export type McpText = (typeof MCP_TEXTS)[number];

/** How much corral logs, to stderr. */
export { LOG_LEVELS };

/** A list of absolute paths, from a file's array or a variable's colon-separated string (like PATH). */
const pathList = z
  .preprocess((v) => (typeof v === "string" ? v.split(":").map((p) => p.trim()).filter(Boolean) : v), z.array(z.string().startsWith("/", "a path here must be absolute")))
  .default([]);

/**
 * Every general value corral reads, with its default. Each backend adds its own section under
 * `backends` (see configSchema); the README's configuration table is checked against both.
 */
export const GeneralConfigSchema = z
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
    agentTools: z
      .enum(["http", "server"])
      .default("http")
      .describe(
        "how an agent's CLI reaches its corral tools: http (served by the corral that owns it, on loopback, where the CLI can), or server (a corral serve --agent process of its own)",
      ),
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
    mcpText: z
      .enum(MCP_TEXTS)
      .default("auto")
      .describe(
        "what a tool answer's text holds beside its structured content: json (the same JSON, for clients that read only text), brief (a few lines), auto (brief for clients known to read the structured content: Claude Code; json for others)",
      ),
    logLevel: z.enum(LOG_LEVELS).default("info"),
  })
  .strict();

/** The config file's path: CORRAL_CONFIG, else config.json in the state dir. */
export function configFilePath(env: NodeJS.ProcessEnv, userHome: string): string {
  return env.CORRAL_CONFIG ?? join(defaultHome(env, userHome), "config.json");
}

function defaultHome(env: NodeJS.ProcessEnv, userHome: string): string {
  return env.CORRAL_HOME ?? join(userHome, ".corral");
}

/**
 * The sections backends add under `backends`, by backend name, and the keys of each that were
 * flat keys (`claudePath`) before sections existed. Passed in from the backend registry: the
 * domain knows no backend.
 */
export interface BackendSections {
  readonly schemas: Readonly<Record<string, z.ZodObject>>;
  readonly formerFlatKeys: Readonly<Record<string, readonly string[]>>;
}

/** The configuration: general values, and each backend's section as its own schema parses it. */
export type Config = z.infer<typeof GeneralConfigSchema> & { readonly backends: Readonly<Record<string, Readonly<Record<string, unknown>>>> };

/** The whole schema: the general values and one section per backend, each with every default. */
export function configSchema(sections: BackendSections): z.ZodType<Config> {
  const backends = Object.fromEntries(Object.entries(sections.schemas).map(([name, schema]) => [name, schema.prefault({})]));
  return GeneralConfigSchema.extend({ backends: z.object(backends).strict().prefault({}) });
}

/** One value a user can set: where it sits in the config file, and its environment variable. */
export interface Setting {
  readonly path: readonly string[];
  readonly env: string;
  /** Variables read when `env` is not set: the names the value had before it moved. */
  readonly aliases: readonly string[];
}

const SCREAMING = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

/**
 * The variable of a setting, derived from its path: `CORRAL_`, then each key in upper snake
 * case, joined by `_` (`maxDepth` → CORRAL_MAX_DEPTH, `backends.claude.path` →
 * CORRAL_BACKENDS_CLAUDE_PATH).
 */
export function envName(path: readonly string[]): string {
  return `CORRAL_${path.map(SCREAMING).join("_")}`;
}

/** Short names people type for a general setting, read when its own variable is not set. */
const GENERAL_ALIASES: Readonly<Record<string, readonly string[]>> = { logLevel: ["CORRAL_LOG"] };

/** `claude` + `path` → `claudePath`: a backend's key as a flat key, as it was before sections. */
const flatKey = (backend: string, key: string): string => `${backend}${key.charAt(0).toUpperCase()}${key.slice(1)}`;

/** Every setting, general ones first, then each backend's section in the registry's order. */
export function settings(sections: BackendSections): Setting[] {
  const general = Object.keys(GeneralConfigSchema.shape).map((key): Setting => ({ path: [key], env: envName([key]), aliases: GENERAL_ALIASES[key] ?? [] }));
  const backends = Object.entries(sections.schemas).flatMap(([name, section]) =>
    Object.keys(section.shape).map((key): Setting => {
      const former = (sections.formerFlatKeys[name] ?? []).includes(key);
      return { path: ["backends", name, key], env: envName(["backends", name, key]), aliases: former ? [envName([flatKey(name, key)])] : [] };
    }),
  );
  return [...general, ...backends];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * What a config file holds that corral no longer reads, each with what to write instead: a
 * key silently ignored would leave a user wondering why a setting has no effect.
 */
function fileProblems(file: Record<string, unknown>, sections: BackendSections): string[] {
  const problems: string[] = [];
  for (const [name, keys] of Object.entries(sections.formerFlatKeys)) {
    for (const key of keys) {
      if (flatKey(name, key) in file) {
        problems.push(`${flatKey(name, key)}: the ${name} backend's settings moved into a section: write {"backends": {"${name}": {"${key}": ${JSON.stringify(file[flatKey(name, key)])}}}} instead`);
      }
    }
  }
  if (isObject(file.backends)) {
    const known = Object.keys(sections.schemas);
    for (const name of Object.keys(file.backends)) {
      if (!known.includes(name)) problems.push(`backends.${name}: no backend ${JSON.stringify(name)}; the known backends are ${known.join(", ")}`);
    }
  }
  return problems;
}

/** Sets `value` at `path` inside `target`, making the objects on the way; leaves a non-object alone for the schema to refuse. */
function setAt(target: Record<string, unknown>, path: readonly string[], value: string): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key] ?? {};
    if (!isObject(next)) return;
    node[key] = { ...next };
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

/**
 * Defaults, then the config file, then the environment: the later source wins, so one run can
 * override a file without editing it.
 */
export function resolveConfig(
  env: NodeJS.ProcessEnv,
  file: Record<string, unknown> | null,
  userHome: string,
  sections: BackendSections,
): Result<Config> {
  const problems = file === null ? [] : fileProblems(file, sections);
  const merged: Record<string, unknown> = { home: join(userHome, ".corral"), ...(file ?? {}) };
  /** The variable each value set from the environment came from, by dotted path. */
  const fromEnv = new Map<string, string>();
  for (const setting of settings(sections)) {
    // The variable's own name wins over a former one, so a caller can override an inherited alias.
    const name = [setting.env, ...setting.aliases].find((candidate) => env[candidate] !== undefined && env[candidate] !== "");
    if (name === undefined) continue;
    setAt(merged, setting.path, env[name] as string);
    fromEnv.set(setting.path.join("."), name);
  }
  if (problems.length === 0) {
    // Parsed once per process: compiling zod's fast path for it would cost more than it saves.
    const parsed = configSchema(sections).safeParse(merged, { jitless: true });
    if (parsed.success) return ok(parsed.data);
    for (const issue of parsed.error.issues) {
      const key = issue.path.join(".");
      problems.push(`${fromEnv.get(key) ?? (key || "config")}: ${issue.message}`);
    }
  }
  return fail("CONFIG_INVALID", `invalid configuration: ${problems.join("; ")}`);
}
