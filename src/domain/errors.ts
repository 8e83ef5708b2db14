/**
 * Expected failures travel as values: every entry point turns them into a message a user can
 * act on, and a caller can branch on `code` without parsing text.
 */
export const ERROR_CODES = [
  "INVALID_INPUT",
  "INVALID_AGENT_TYPE",
  "INVALID_ID",
  "UNKNOWN_TASK",
  "UNKNOWN_AGENT",
  "LIMIT_GLOBAL_AGENTS",
  "LIMIT_TASK_AGENTS",
  "LIMIT_DEPTH",
  "LIMIT_CHILDREN",
  "PARENT_NOT_RUNNING",
  "PATH_OUTSIDE_WORKSPACE",
  "LAUNCH_FAILED",
  "NOT_ATTACHABLE",
  "CONFIG_INVALID",
  "DB_NEWER_THAN_CODE",
  "DB_CORRUPT",
  "DB_UNAVAILABLE",
  "DB_BUSY",
  "PROC_UNAVAILABLE",
  "AUTH_REFUSED",
  "DISK_LOW",
  "DB_MISSING",
  "STORE_LOST",
  "REPLY_TOO_LARGE",
  "CGROUPS_UNAVAILABLE",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface CorralError {
  readonly code: ErrorCode;
  readonly message: string;
  /**
   * The input at fault, in the caller's own words (`agent_id`, `backend`), when one field is;
   * each face maps it to its vocabulary (the CLI's `--backend`).
   */
  readonly field?: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CorralError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export const fail = <T = never>(code: ErrorCode, message: string, field?: string): Result<T> => ({
  ok: false,
  error: field === undefined ? { code, message } : { code, message, field },
});

/** Thrown only where a Result cannot travel (constructors, top-level entry points). */
export class CorralFailure extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  constructor(error: CorralError) {
    super(error.message);
    this.name = "CorralFailure";
    this.code = error.code;
    this.field = error.field;
  }
}

export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new CorralFailure(result.error);
  return result.value;
}

export function describeUnknown(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
