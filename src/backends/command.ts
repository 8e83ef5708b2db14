import { join } from "node:path";
import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentSpec, Backend, BackendPlan } from "./backend.js";

const PROMPT_FILE = "prompt.txt";

/**
 * Runs any argv. The prompt reaches the program on stdin and as a file named by
 * CORRAL_PROMPT_FILE, never on the command line: no ARG_MAX limit and nothing visible in ps.
 */
export const commandBackend: Backend = {
  name: "command",
  check({ command }): Result<void> {
    if (command === null || command.length === 0 || command[0] === "") {
      return fail("INVALID_INPUT", "the command backend needs `command`: the argv to run, e.g. [\"bash\", \"-c\", \"...\"]", "command");
    }
    if (command.some((arg) => arg.includes("\0"))) return fail("INVALID_INPUT", "a command argument may not contain a NUL byte", "command");
    return ok(undefined);
  },
  transcript: null,
  plan(spec: AgentSpec): Result<BackendPlan> {
    const checked = this.check(spec);
    if (!checked.ok) return checked;
    return ok({
      dirs: [],
      files: { [PROMPT_FILE]: spec.prompt },
      argv: spec.command as readonly string[],
      env: {
        CORRAL_AGENT_ID: spec.agentId,
        CORRAL_TASK_ID: spec.taskId,
        CORRAL_AGENT_TYPE: spec.agentType,
        CORRAL_PROMPT_FILE: join(spec.dir, PROMPT_FILE),
      },
      stdin: PROMPT_FILE,
    });
  },
  parseLine: null,
};
