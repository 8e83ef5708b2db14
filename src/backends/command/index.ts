import { join } from "node:path";
import * as z from "zod";
import { fail, ok, type Result } from "../../domain/errors.js";
import { AGENT_TOKEN_VARIABLE, AGENT_URL_VARIABLE, type BackendDefinition, type BackendPlan } from "../backend.js";

const PROMPT_FILE = "prompt.txt";

/** The `backends.command` section: nothing to set yet, since each deploy gives its own argv. */
export const CommandSettingsSchema = z.object({}).strict();

function checkCommand(command: readonly string[] | null): Result<readonly string[]> {
  if (command === null || command.length === 0 || command[0] === "") {
    return fail("INVALID_INPUT", "the command backend needs an argv to run: a program and its arguments", "command");
  }
  if (command.some((arg) => arg.includes("\0"))) return fail("INVALID_INPUT", "a command argument may not contain a NUL byte", "command");
  return ok(command);
}

/**
 * Runs any argv. The prompt reaches the program on stdin and as a file named by
 * CORRAL_PROMPT_FILE, never on the command line: no ARG_MAX limit and nothing visible in ps.
 */
export const command: BackendDefinition<typeof CommandSettingsSchema, "command"> = {
  name: "command",
  summary: "runs `command`, the argv given, without a shell, with the prompt on stdin",
  settings: CommandSettingsSchema,
  formerFlatKeys: [],
  capabilities: {
    input: "argv",
    resume: { cli: false, corral: false },
    costReporting: "none",
    // A program has no MCP config for corral to write. Where its corral serves agent tools over
    // HTTP it gets the URL and its token in its environment (CORRAL_AGENT_MCP_URL,
    // CORRAL_AGENT_TOKEN) and may call them; a contained one gets its relay socket and may
    // start `corral serve --agent` itself. Otherwise its exit and output are the record.
    mcpTransports: ["http"],
    permissionModel: "none",
  },
  create: () => ({
    stream: { structured: false },
    transcripts: { kept: false },
    executable: { kind: "per-deploy" },
    check: ({ command }) => {
      const checked = checkCommand(command);
      return checked.ok ? ok(undefined) : checked;
    },
    plan(spec): Result<BackendPlan> {
      const argv = checkCommand(spec.command);
      if (!argv.ok) return argv;
      return ok({
        dirs: [],
        files: { [PROMPT_FILE]: spec.prompt },
        argv: argv.value,
        env: {
          CORRAL_AGENT_ID: spec.agentId,
          CORRAL_TASK_ID: spec.taskId,
          CORRAL_AGENT_TYPE: spec.agentType,
          CORRAL_PROMPT_FILE: join(spec.dir, PROMPT_FILE),
          ...(spec.tools.via === "http" ? { [AGENT_URL_VARIABLE]: spec.tools.url, [AGENT_TOKEN_VARIABLE]: spec.tools.token } : {}),
        },
        stdin: PROMPT_FILE,
      });
    },
  }),
};
