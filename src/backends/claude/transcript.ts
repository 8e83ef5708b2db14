import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";

/**
 * Where Claude Code keeps a session (checked with 2.1.197): the transcript is
 * `<config dir>/projects/<project>/<session id>.jsonl`, next to a `<session id>/` dir for
 * what the session spilled (subagents, large tool results), and `<config dir>/session-env/
 * <session id>/`. The config dir is CLAUDE_CONFIG_DIR, else ~/.claude; the project is the
 * working dir's real path with every character but a-z, A-Z and 0-9 made `-`, cut at 200
 * characters with a hash of the whole path appended when longer.
 */
const PROJECT_NAME_MAX = 200;
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The CLI's own string hash (Java's), which names a project whose path is too long. */
function pathHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i += 1) hash = ((hash << 5) - hash + text.charCodeAt(i)) | 0;
  return hash;
}

export function projectDirName(cwd: string): string {
  const name = cwd.replace(/[^a-zA-Z0-9]/g, "-");
  return name.length <= PROJECT_NAME_MAX ? name : `${name.slice(0, PROJECT_NAME_MAX)}-${Math.abs(pathHash(cwd)).toString(36)}`;
}

/** The config dir an agent started from this environment uses: agents inherit corral's. */
export function claudeConfigDir(env: NodeJS.ProcessEnv): string {
  const configured = env.CLAUDE_CONFIG_DIR;
  return configured !== undefined && configured !== "" ? configured : join(env.HOME ?? homedir(), ".claude");
}

/** The transcript of the session, when the CLI wrote one where its layout says. */
export function locateTranscript(configDir: string, cwd: string, sessionId: string): string | null {
  if (!SESSION_ID.test(sessionId)) return null;
  const path = join(configDir, "projects", projectDirName(cwd), `${sessionId}.jsonl`);
  return existsSync(path) ? path : null;
}

/**
 * What goes with a transcript when it is removed: the file, its session's dir beside it and
 * its session-env dir; empty for a path that is not laid out as a transcript, so a damaged
 * row can never aim a removal elsewhere.
 */
export function transcriptFiles(path: string): string[] {
  const file = basename(path);
  const sessionId = file.endsWith(".jsonl") ? file.slice(0, -".jsonl".length) : "";
  const project = dirname(path);
  const projects = dirname(project);
  if (!SESSION_ID.test(sessionId) || basename(projects) !== "projects" || basename(project) === "..") return [];
  return [path, join(project, sessionId), join(dirname(projects), "session-env", sessionId)];
}
