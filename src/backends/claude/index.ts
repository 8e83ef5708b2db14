import { fail, ok } from "../../domain/errors.js";
import type { BackendDefinition } from "../backend.js";
import { claudePlan, CORRAL_SERVER } from "./plan.js";
import { ClaudeSettingsSchema } from "./settings.js";
import { parseClaudeLine } from "./stream.js";
import { claudeConfigDir, locateTranscript, transcriptFiles } from "./transcript.js";

/** Claude Code in headless mode, `claude -p`, reporting through corral's agent MCP server. */
export const claude: BackendDefinition<typeof ClaudeSettingsSchema, "claude"> = {
  name: "claude",
  summary: "Claude Code headless (claude -p), reporting through corral's MCP tools",
  settings: ClaudeSettingsSchema,
  formerFlatKeys: ["path", "permissionMode", "allowedTools", "strictMcp"],
  capabilities: {
    input: "prompt",
    // claude --resume continues a session from its transcript; corral keeps the transcript
    // with the archive but does not resume agents yet.
    resume: { cli: true, corral: false },
    costReporting: "reported",
    // Both checked with 2.1.197: `${VAR}` is expanded in an http server's headers as in a
    // stdio server's env, and a stateless http server that comes back on the same URL is
    // used again by the next call.
    mcpTransports: ["http", "stdio"],
    permissionModel: "allowlist",
  },
  create: (settings, context) => ({
    stream: { structured: true, parseLine: (line) => parseClaudeLine(line, CORRAL_SERVER) },
    // Agents inherit corral's environment, so the config dir they write to is corral's.
    transcripts: { kept: true, locate: (cwd, sessionId) => locateTranscript(claudeConfigDir(process.env), cwd, sessionId), files: transcriptFiles },
    executable: {
      kind: "configured",
      program: settings.path,
      setting: ["backends", "claude", "path"],
      versionArgs: ["--version"],
      install: "npm install -g @anthropic-ai/claude-code",
    },
    // An argv given to a claude agent would be silently ignored: refuse it instead.
    check: ({ command }) =>
      command === null ? ok(undefined) : fail("INVALID_INPUT", "the claude backend runs claude and takes no argv; use the command backend to run one", "command"),
    plan: (spec) => claudePlan(settings, context, spec),
  }),
};
