import pino, { type Logger } from "pino";

/** Logs go to stderr, never stdout: in MCP stdio mode stdout carries only protocol messages. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: "corral" } }, pino.destination({ dest: 2, sync: true }));
}
