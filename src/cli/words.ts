import { snakeCase } from "../contract/casing.js";
import type { CorralError } from "../domain/errors.js";

/**
 * How the command line spells each input the service can name as the one at fault: an
 * error's `field` is in the service's input words (`agent_type`), the person at the terminal
 * typed `--type`. One table for every command: a flag means the same wherever it appears.
 */
const CLI_WORDS: Readonly<Record<string, string>> = {
  agent_type: "--type",
  backend: "--backend",
  model: "--model",
  runner: "--runner",
  command: "-- ARGV",
  prompt: "PROMPT",
  description: "PROMPT",
  agent_id: "AGENT",
  task_id: "TASK",
  reason: "--reason",
  count: "--agents",
  limit: "--limit",
  cursor: "--cursor",
  host: "--host",
  port: "--port",
};

/** The command line's word for an input, or its snake_case name where no flag spells it. */
export function cliWord(field: string): string {
  const snake = snakeCase(field);
  return CLI_WORDS[snake] ?? snake;
}

/**
 * The error's message as the command line says it, so that no internal name reaches the
 * terminal: the error's field leads it, as the flag or argument the user typed (`--type: ...`);
 * a message that itself starts by naming an input (`agentType: ...`) has that name replaced
 * the same way, and so does an input quoted in it (`command`).
 */
export function cliMessage(error: CorralError): string {
  const named = /^([A-Za-z_][A-Za-z0-9_]*):/.exec(error.message)?.[1];
  const message =
    named !== undefined
      ? `${cliWord(error.field ?? named)}${error.message.slice(named.length)}`
      : error.field !== undefined
        ? `${cliWord(error.field)}: ${error.message}`
        : error.message;
  return message.replace(/`([A-Za-z_][A-Za-z0-9_]*)`/g, (quoted, name: string) => CLI_WORDS[snakeCase(name)] ?? quoted);
}

/** `corral: CODE: message`, the one shape of every error the command line prints. */
export const cliErrorLine = (error: CorralError): string => `corral: ${error.code}: ${cliMessage(error)}\n`;

/**
 * The words of `command` (every operand after the prompt) that came before `--` on the command
 * line. An argv is only ever what follows `--`: `corral run fix the parser` must not run a
 * program named `the`, so words between the prompt and `--` are refused, never guessed at.
 */
export function wordsBeforeSeparator(command: readonly string[], rawArgs: readonly string[]): string[] {
  const separator = rawArgs.indexOf("--");
  const afterSeparator = separator === -1 ? 0 : rawArgs.length - separator - 1;
  return command.slice(0, Math.max(0, command.length - afterSeparator));
}
