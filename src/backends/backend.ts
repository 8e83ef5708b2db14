import type { AgentId, AgentType, TaskId } from "../domain/ids.js";
import type { Result } from "../domain/errors.js";

/** What one agent is asked to do, independent of which CLI does it. */
export interface AgentSpec {
  readonly agentId: AgentId;
  readonly taskId: TaskId;
  readonly agentType: AgentType;
  readonly prompt: string;
  readonly cwd: string;
  /** The argv of the `command` backend. */
  readonly command: readonly string[] | null;
}

/** What a backend wants launched: files to write into the agent's private dir, then argv. */
export interface BackendPlan {
  /** File name (inside the agent dir) → content; written 0600 before launch, deleted at cleanup. */
  readonly files: Readonly<Record<string, string>>;
  /** Builds argv and env once the files' absolute paths are known. */
  readonly argv: (fileAt: (name: string) => string) => readonly string[];
  readonly env: (fileAt: (name: string) => string) => Readonly<Record<string, string>>;
  /** A file of `files` fed to stdin, or null. */
  readonly stdin: string | null;
}

export interface Backend {
  readonly name: string;
  plan(spec: AgentSpec): Result<BackendPlan>;
}
