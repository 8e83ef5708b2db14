import type { CorralError } from "../domain/errors.js";
import { printJsonError } from "./json-output.js";
import { cliErrorLine } from "./words.js";

export interface Output {
  /** The command was given --json: errors too are printed as JSON. */
  readonly json?: boolean | undefined;
}

/** Exit codes: 0 success; 1 a usage error, or a command that found a problem; 2 corral could not start. */
export function die(error: CorralError, code = 2, output: Output = {}): never {
  if (output.json === true) printJsonError(error);
  else process.stderr.write(cliErrorLine(error));
  process.exit(code);
}
