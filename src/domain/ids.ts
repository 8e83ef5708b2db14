import { randomBytes } from "node:crypto";
import * as z from "zod";

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type TaskId = Brand<string, "TaskId">;
export type AgentId = Brand<string, "AgentId">;
export type AgentType = Brand<string, "AgentType">;

export const AgentTypeSchema = z
  .string()
  .regex(/^[a-z0-9_-]{1,40}$/, "an agent type is 1 to 40 characters of a-z, 0-9, '_' and '-'")
  .transform((s) => s as AgentType);

export const TaskIdSchema = z
  .string()
  .regex(/^TASK-\d{8}-\d{6}-[0-9a-f]{8}$/, "a task id looks like TASK-20260101-120000-0123abcd")
  .transform((s) => s as TaskId);

export const AgentIdSchema = z
  .string()
  .regex(/^[a-z0-9_-]{1,40}-\d{6}-[0-9a-f]{6}$/, "an agent id looks like <type>-120000-0a1b2c")
  .transform((s) => s as AgentId);

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** Ids carry UTC time so that they sort and read the same on every machine. */
function stamp(now: Date): { date: string; time: string } {
  return {
    date: `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}`,
    time: `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`,
  };
}

export function newTaskId(now: Date = new Date()): TaskId {
  const { date, time } = stamp(now);
  return `TASK-${date}-${time}-${randomBytes(4).toString("hex")}` as TaskId;
}

export function newAgentId(type: AgentType, now: Date = new Date()): AgentId {
  return `${type}-${stamp(now).time}-${randomBytes(3).toString("hex")}` as AgentId;
}
