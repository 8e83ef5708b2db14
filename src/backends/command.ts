import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentSpec, Backend, BackendPlan } from "./backend.js";

const PROMPT_FILE = "prompt.txt";

/**
 * Runs any argv. The prompt reaches the program on stdin and as a file named by
 * CORRAL_PROMPT_FILE, never on the command line: no ARG_MAX limit and nothing visible in ps.
 */
export const commandBackend: Backend = {
  name: "command",
  plan(spec: AgentSpec): Result<BackendPlan> {
    const argv = spec.command;
    if (argv === null || argv.length === 0 || argv[0] === "") {
      return fail("INVALID_INPUT", "the command backend needs `command`: the argv to run, e.g. [\"bash\", \"-c\", \"...\"]");
    }
    if (argv.some((arg) => arg.includes("\0"))) return fail("INVALID_INPUT", "a command argument may not contain a NUL byte");
    return ok({
      files: { [PROMPT_FILE]: spec.prompt },
      argv: () => argv,
      env: (fileAt) => ({
        CORRAL_AGENT_ID: spec.agentId,
        CORRAL_TASK_ID: spec.taskId,
        CORRAL_AGENT_TYPE: spec.agentType,
        CORRAL_PROMPT_FILE: fileAt(PROMPT_FILE),
      }),
      stdin: PROMPT_FILE,
    });
  },
};
