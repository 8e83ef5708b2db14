import { join } from "node:path";

/** The pinned claude CLI, a devDependency. */
export const CLAUDE = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "claude");

/**
 * What a corral whose agents are real claude CLIs needs in its environment to send every
 * model call to the scripted server at `modelUrl`, and nothing anywhere else.
 */
export function scriptedClaudeEnv(modelUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ANTHROPIC_BASE_URL: modelUrl,
    ANTHROPIC_API_KEY: "test-key",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_TELEMETRY: "1",
    CORRAL_BACKENDS_CLAUDE_PATH: CLAUDE,
    ...extra,
  };
}
