import { z } from "zod";
import { EFFORTS } from "../backends/backend.js";
import { RUNNER_KINDS } from "../domain/config.js";
import { AgentIdSchema, AgentTypeSchema, TaskIdSchema } from "../domain/ids.js";
import { fail, ok, type ErrorCode, type Result } from "../domain/errors.js";

/** The service's inputs, validated here so that every entry point gets the same errors. */
export const CreateTaskInputSchema = z
  .object({
    description: z.string().trim().min(1, "a task needs a description").max(20_000),
    priority: z.enum(["low", "normal", "high", "critical"]).default("normal"),
    clientCwd: z.string().min(1).optional(),
    context: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type CreateTaskInput = z.input<typeof CreateTaskInputSchema>;

export const BACKENDS = ["claude", "command"] as const;

export const DeployInputSchema = z
  .object({
    taskId: TaskIdSchema,
    agentType: AgentTypeSchema,
    prompt: z.string().min(1, "an agent needs a prompt").max(1_000_000),
    parentId: AgentIdSchema.optional(),
    /** Defaults to `command` when a command is given, else `claude`. */
    backend: z.enum(BACKENDS).optional(),
    command: z.array(z.string()).min(1).optional(),
    model: z.string().min(1).max(200).optional(),
    effort: z.enum(EFFORTS).optional(),
    /** Defaults to the parent's runner when that is tmux, else to the configured one. */
    runner: z.enum(RUNNER_KINDS).optional(),
    cwd: z.string().min(1).optional(),
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
      data: z.record(z.string(), z.unknown()).optional(),
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
