import * as z from "zod";
import { EFFORTS } from "../backends/backend.js";
import { BACKEND_NAMES, describeBackends } from "../backends/registry.js";
import { RUNNER_KINDS } from "../domain/config.js";
import { AgentIdSchema, AgentTypeSchema, TaskIdSchema, type AgentId, type TaskId } from "../domain/ids.js";
import { fail, ok, type ErrorCode, type Result } from "../domain/errors.js";
import { snakeCase } from "../contract/casing.js";
import { JsonRecord } from "../contract/wire.js";
import {
  MAX_ARGV_BYTES,
  MAX_ARGV_ITEMS,
  MAX_CONTEXT_BYTES,
  MAX_DESCRIPTION,
  MAX_FINDING_DATA_BYTES,
  MAX_ID_CHARS,
  MAX_LIFETIME_MS,
  MAX_PROMPT,
} from "../domain/bounds.js";

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? "");

/** The backends a deploy may name, from the registry. */
export const BACKENDS = BACKEND_NAMES;
export const PRIORITIES = ["low", "normal", "high", "critical"] as const;
export const SEVERITIES = ["low", "medium", "high", "critical"] as const;

/**
 * Every input field, once: its bound, its check and its description. The service's schemas
 * below and the MCP tools' input schemas are built from these, so a field means the same and
 * is refused the same way wherever it comes in.
 */
export const Field = {
  description: z.string().trim().min(1, "a task needs a description").max(MAX_DESCRIPTION).describe("what the task is about"),
  priority: z.enum(PRIORITIES),
  clientCwd: z.string().min(1).max(4096).describe("absolute path of an existing directory, the project the agents work in"),
  taskId: TaskIdSchema.describe("the task id create_real_task returned, e.g. TASK-20260101-120000-0123abcd"),
  agentId: AgentIdSchema.describe("an agent id from deploy_headless_agent or get_real_task_status, e.g. worker-120000-0a1b2c"),
  agentType: AgentTypeSchema.describe("what the agent is, 1-40 chars of a-z 0-9 _ -: e.g. 'researcher', 'test_writer'"),
  prompt: z.string().min(1, "an agent needs a prompt").max(MAX_PROMPT).describe("the agent's mission"),
  backend: z.enum(BACKENDS).describe(`which agent CLI runs it: ${describeBackends()}`),
  command: z
    .array(z.string().max(MAX_ARGV_BYTES))
    .min(1)
    .max(MAX_ARGV_ITEMS)
    .refine((argv) => argv.reduce((sum, arg) => sum + Buffer.byteLength(arg) + 1, 0) <= MAX_ARGV_BYTES, {
      message: `the argv is over ${MAX_ARGV_BYTES} bytes: pass large input in a file or on stdin`,
    })
    .describe(`with backend 'command': the argv to run (no shell); at most ${MAX_ARGV_ITEMS} arguments, ${MAX_ARGV_BYTES} bytes in all`),
  model: z.string().min(1).max(200).describe("model for the agent's CLI (claude: e.g. 'sonnet', 'opus')"),
  effort: z.enum(EFFORTS).describe("reasoning effort, for CLIs that take one"),
  runner: z
    .enum(RUNNER_KINDS)
    .describe("where it runs: 'process' or 'tmux' (a tmux session a person can watch with `corral attach`); default: the parent's when tmux, else the configured runner"),
  cwd: z.string().min(1).max(4096).describe("absolute path of the directory the agent works in"),
  progressStatus: z.string().min(1).max(200).describe("a short status, e.g. 'working', 'blocked', 'completed'"),
  message: z.string().max(20_000),
  progress: z.number().int().min(0).max(100).describe("percent done"),
  findingType: z.string().min(1).max(200).describe("what kind of finding, e.g. 'bug', 'risk', 'result'"),
  severity: z.enum(SEVERITIES),
  findingData: JsonRecord()
    .refine((data) => jsonBytes(data) <= MAX_FINDING_DATA_BYTES, {
      message: `over ${MAX_FINDING_DATA_BYTES} bytes as JSON: write large results to a file in your working dir and name it here`,
    })
    .describe(`structured detail, at most ${MAX_FINDING_DATA_BYTES} bytes as JSON`),
};

/** The service's inputs, validated here so that every entry point gets the same errors. */
export const CreateTaskInputSchema = z
  .object({
    description: Field.description,
    priority: Field.priority.default("normal"),
    clientCwd: Field.clientCwd.optional(),
    context: z
      .record(z.string(), z.unknown())
      .refine((context) => jsonBytes(context) <= MAX_CONTEXT_BYTES, {
        message: `the task's context is over ${MAX_CONTEXT_BYTES} bytes as JSON: every agent receives it in its prompt; put large material in files under client_cwd and name them in relevant_files`,
      })
      .default({}),
  })
  .strict();
export type CreateTaskInput = z.input<typeof CreateTaskInputSchema>;

export const DeployInputSchema = z
  .object({
    taskId: Field.taskId,
    agentType: Field.agentType,
    prompt: Field.prompt,
    parentId: Field.agentId.optional(),
    /**
     * Checked against the registry when the deploy chooses its backend (an unknown one is
     * refused naming the known ones); when absent, the registry's default for the input.
     */
    backend: z.string().max(MAX_ID_CHARS).optional(),
    command: Field.command.optional(),
    model: Field.model.optional(),
    effort: Field.effort.optional(),
    /** Defaults to the parent's runner when that is tmux, else to the configured one. */
    runner: Field.runner.optional(),
    cwd: Field.cwd.optional(),
    /**
     * The agent's own wall-clock limit. An agent given one outlives its coordinator's client:
     * a shutdown leaves it running, and the corral that adopts it ends it at its deadline.
     */
    maxRuntimeMs: z.number().int().positive().max(MAX_LIFETIME_MS).optional(),
  })
  .strict();
export type DeployInput = z.input<typeof DeployInputSchema>;

export const EventInputSchema = z.discriminatedUnion("kind", [
  z
    .object({ kind: z.literal("progress"), status: Field.progressStatus, message: Field.message, progress: Field.progress.optional() })
    .strict(),
  z
    .object({
      kind: z.literal("finding"),
      findingType: Field.findingType,
      severity: Field.severity,
      message: Field.message,
      data: Field.findingData.optional(),
    })
    .strict(),
]);
export type EventInput = z.input<typeof EventInputSchema>;

/** The code of a refusal of `field`: an agent type and an id get their own. */
function codeFor(field: string | undefined): ErrorCode {
  if (field === undefined) return "INVALID_INPUT";
  if (/(^|_)agent_type$/.test(field)) return "INVALID_AGENT_TYPE";
  if (/(^|_)ids?$/.test(field) || field === "parent") return "INVALID_ID";
  return "INVALID_INPUT";
}

/**
 * Parses `raw`, naming the first bad field in snake_case (the contract's words: `agent_type`,
 * `max_bytes`), or as the caller spelled it when it is a field the schema does not know.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, field?: string): Result<z.output<S>> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return ok(parsed.data);
  // A misspelt field (agentId for agent_id) is named first: it is why the real one is missing.
  const issue = parsed.error.issues.find((i) => i.code === "unrecognized_keys") ?? parsed.error.issues[0];
  const key = issue?.path.find((part): part is string => typeof part === "string");
  const at = issue?.code === "unrecognized_keys" ? issue.keys[0] : key === undefined ? field : snakeCase(key);
  const message = issue?.code === "unrecognized_keys" ? `not an input here: ${issue.keys.join(", ")}` : (issue?.message ?? "invalid");
  return fail(codeFor(at), message, at);
}

/** Ids from outside, parsed at the edge: a string that is not one is refused, never cast. */
export const parseTaskId = (raw: unknown, field = "task_id"): Result<TaskId> => parseInput(TaskIdSchema, raw, field);
export const parseAgentId = (raw: unknown, field = "agent_id"): Result<AgentId> => parseInput(AgentIdSchema, raw, field);

/** An error's field renamed into a caller's words (a tool's `parent`, the CLI's `--type`). */
export function renameField<T>(result: Result<T>, names: Readonly<Record<string, string>>): Result<T> {
  if (result.ok || result.error.field === undefined) return result;
  const renamed = names[result.error.field];
  return renamed === undefined ? result : fail(result.error.code, result.error.message, renamed);
}
