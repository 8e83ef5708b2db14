import { z } from "zod";
import { EFFORTS } from "../backends/backend.js";
import { BACKEND_NAMES } from "../backends/registry.js";
import { RUNNER_KINDS } from "../domain/config.js";
import { AgentIdSchema, AgentTypeSchema, TaskIdSchema } from "../domain/ids.js";
import { fail, ok, type ErrorCode, type Result } from "../domain/errors.js";
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

/** The service's inputs, validated here so that every entry point gets the same errors. */
export const CreateTaskInputSchema = z
  .object({
    description: z.string().trim().min(1, "a task needs a description").max(MAX_DESCRIPTION),
    priority: z.enum(["low", "normal", "high", "critical"]).default("normal"),
    clientCwd: z.string().min(1).optional(),
    context: z
      .record(z.string(), z.unknown())
      .refine((context) => jsonBytes(context) <= MAX_CONTEXT_BYTES, {
        message: `the task's context is over ${MAX_CONTEXT_BYTES} bytes as JSON: every agent receives it in its prompt; put large material in files under client_cwd and name them in relevant_files`,
      })
      .default({}),
  })
  .strict();
export type CreateTaskInput = z.input<typeof CreateTaskInputSchema>;

/** The backends a deploy may name, from the registry. */
export const BACKENDS = BACKEND_NAMES;

export const DeployInputSchema = z
  .object({
    taskId: TaskIdSchema,
    agentType: AgentTypeSchema,
    prompt: z.string().min(1, "an agent needs a prompt").max(MAX_PROMPT),
    parentId: AgentIdSchema.optional(),
    /**
     * Checked against the registry when the deploy chooses its backend (an unknown one is
     * refused naming the known ones); when absent, the registry's default for the input.
     */
    backend: z.string().max(MAX_ID_CHARS).optional(),
    command: z
      .array(z.string())
      .min(1)
      .max(MAX_ARGV_ITEMS)
      .refine((argv) => argv.reduce((sum, arg) => sum + Buffer.byteLength(arg) + 1, 0) <= MAX_ARGV_BYTES, {
        message: `the argv is over ${MAX_ARGV_BYTES} bytes: pass large input in a file or on stdin`,
      })
      .optional(),
    model: z.string().min(1).max(200).optional(),
    effort: z.enum(EFFORTS).optional(),
    /** Defaults to the parent's runner when that is tmux, else to the configured one. */
    runner: z.enum(RUNNER_KINDS).optional(),
    cwd: z.string().min(1).optional(),
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
    .object({
      kind: z.literal("progress"),
      status: z.string().max(200),
      message: z.string().max(20_000),
      progress: z.number().int().min(0).max(100).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal("finding"),
      findingType: z.string().min(1).max(200),
      severity: z.enum(["low", "medium", "high", "critical"]),
      message: z.string().max(20_000),
      data: z
        .record(z.string(), z.unknown())
        .refine((data) => jsonBytes(data) <= MAX_FINDING_DATA_BYTES, {
          message: `over ${MAX_FINDING_DATA_BYTES} bytes as JSON: write large results to a file in your working dir and name it here`,
        })
        .optional(),
    })
    .strict(),
]);
export type EventInput = z.input<typeof EventInputSchema>;

/** Parses `raw`, naming the first bad field; an agent type gets its own code. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown): Result<z.output<S>> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return ok(parsed.data);
  const issue = parsed.error.issues[0];
  const field = issue?.path.join(".") ?? "";
  const code: ErrorCode = field === "agentType" ? "INVALID_AGENT_TYPE" : field.endsWith("Id") ? "INVALID_ID" : "INVALID_INPUT";
  return fail(code, `${field === "" ? "input" : field}: ${issue?.message ?? "invalid"}`);
}

/**
 * "agentType: ..." → "agent_type: ..." or "--type: ...": a message from parseInput names the
 * field as the service knows it; each entry point renames it the way its caller wrote it.
 */
export function renameField(message: string, names: Readonly<Record<string, string>>): string {
  const field = /^(\w+):/.exec(message)?.[1];
  const renamed = field === undefined ? undefined : names[field];
  return field === undefined || renamed === undefined ? message : `${renamed}${message.slice(field.length)}`;
}
