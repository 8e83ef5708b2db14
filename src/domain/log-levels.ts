/** The levels logs are asked for at; a module of its own, so the command line names them without loading zod. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The variable that asks for logs, set by the environment or by the command line's global --log-level. */
export const LOG_LEVEL_VARIABLE = "CORRAL_LOG_LEVEL";
