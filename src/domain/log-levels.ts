/** The levels logs are asked for at; a module of its own, so the command line names them without loading zod. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
