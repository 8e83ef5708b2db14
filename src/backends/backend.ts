import type { Result } from "../domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../domain/ids.js";
import type { StreamEvent } from "../domain/stream-events.js";

/** Where a contained agent's server finds its relay socket (see lifecycle/relays.ts). */
export const RELAY_VARIABLE = "CORRAL_AGENT_RELAY";

export const EFFORTS = ["low", "medium", "high", "xhigh", "max"] as const;
export type Effort = (typeof EFFORTS)[number];

/** What one agent is asked to do, independent of which CLI does it. */
export interface AgentSpec {
  readonly agentId: AgentId;
  readonly taskId: TaskId;
  readonly agentType: AgentType;
  readonly prompt: string;
  readonly cwd: string;
  readonly parentId: AgentId | null;
  readonly depth: number;
  readonly task: { readonly description: string; readonly context: Readonly<Record<string, unknown>> };
  /** The agent's private dir: the plan's files are written here and removed at cleanup. */
  readonly dir: string;
  /** The credential the agent's own corral MCP server authenticates it with. */
  readonly token: string;
  /**
   * For a contained agent, the socket its corral MCP server relays to: the agent is then who
   * the socket serves, and gets no token.
   */
  readonly relay: string | null;
  /** The argv of the `command` backend. */
  readonly command: readonly string[] | null;
  readonly model: string | null;
  readonly effort: Effort | null;
}

/** What a backend wants launched. */
export interface BackendPlan {
  /** Sub-directories of the agent dir to create. */
  readonly dirs: readonly string[];
  /** File name (inside the agent dir) → content; written 0600 before launch, deleted at cleanup. */
  readonly files: Readonly<Record<string, string>>;
  readonly argv: readonly string[];
  /** Added to the inherited environment; null removes an inherited variable. */
  readonly env: Readonly<Record<string, string | null>>;
  /** A file of `files` fed to stdin, or null. */
  readonly stdin: string | null;
}

export interface Backend {
  readonly name: string;
  /** Refuses a deploy this backend cannot run, before anything is recorded. */
  check(input: { readonly command: readonly string[] | null }): Result<void>;
  plan(spec: AgentSpec): Result<BackendPlan>;
  /** Turns one line of the agent's output into events, for CLIs with a structured stream. */
  readonly parseLine: ((line: string) => StreamEvent[]) | null;
  /**
   * Where the CLI kept its own transcript of a session run in `cwd`, when it keeps one (claude
   * does, for --resume) and it is there; null otherwise.
   */
  readonly transcript: ((cwd: string, sessionId: string) => string | null) | null;
}
