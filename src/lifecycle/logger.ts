import pino, { type Logger } from "pino";

/** Logs go to stderr, never stdout: in MCP stdio mode stdout carries only protocol messages. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: "corral" } }, pino.destination({ dest: 2, sync: true }));
}

const LEVEL_WORDS: Readonly<Record<number, string>> = { 40: "warning", 50: "error", 60: "fatal error" };
const SKIPPED = new Set(["level", "time", "msg", "name", "pid", "hostname"]);

/** One JSON log line as a sentence: `corral: warning: cleanup step failed (agent: w-1, step: verify)`. */
export function sentence(line: string): string {
  const entry = JSON.parse(line) as Record<string, unknown>;
  const details = Object.entries(entry)
    .filter(([key, value]) => !SKIPPED.has(key) && value !== null && value !== undefined)
    .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  const level = LEVEL_WORDS[entry.level as number] ?? "note";
  return `corral: ${level}: ${String(entry.msg ?? "")}${details.length === 0 ? "" : ` (${details.join(", ")})`}\n`;
}

/**
 * For a person at a terminal, who asked for no logs: no JSON, and only what they must see —
 * warnings and errors, each one plain sentence on stderr.
 */
export function createPlainLogger(): Logger {
  return pino({ level: "warn", base: null, timestamp: false }, { write: (line: string) => void process.stderr.write(sentence(line)) });
}
