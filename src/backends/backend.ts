import type * as z from "zod";
import type { Result } from "../domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../domain/ids.js";
import type { StreamEvent } from "../domain/stream-events.js";

/** Where a contained agent's server finds its relay socket (see lifecycle/relays.ts). */
export const RELAY_VARIABLE = "CORRAL_AGENT_RELAY";

/** Where an agent server, or an agent calling its tools over HTTP, finds the agent's token. */
export const AGENT_TOKEN_VARIABLE = "CORRAL_AGENT_TOKEN";

/** Where an agent whose CLI has no MCP config of corral's finds its tools' URL. */
export const AGENT_URL_VARIABLE = "CORRAL_AGENT_MCP_URL";

/**
 * The coordinator's own HTTP token (`serve --http`), which gives authority over every task:
 * never passed on to an agent, whose environment is otherwise corral's.
 */
export const COORDINATOR_TOKEN_VARIABLE = "CORRAL_HTTP_TOKEN";

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
  /** How the agent's CLI reaches corral's agent tools. */
  readonly tools: AgentToolsRoute;
  /** The argv, for a backend whose input is an argv. */
  readonly command: readonly string[] | null;
  readonly model: string | null;
  readonly effort: Effort | null;
  /**
   * The session of an earlier run to continue, with the CLI's own resume, in the same cwd:
   * `prompt` is then the follow-up message. Only for a backend whose capabilities say
   * `resume.corral`.
   */
  readonly resume: { readonly sessionId: string } | null;
}

/**
 * How an agent reaches its corral tools:
 * - `http`: the corral that owns the agent serves them on a loopback URL; the CLI sends the
 *   agent's token as a bearer token, and the connection must come from inside the agent's
 *   process tree;
 * - `server`: the CLI starts corral's agent server (`corral serve --agent`), which finds the
 *   agent by its token and must run inside the agent's process tree;
 * - `relay`: a contained agent's agent server relays to the socket in its relay dir, which
 *   alone names the agent (no token).
 */
export type AgentToolsRoute =
  | { readonly via: "http"; readonly url: string; readonly token: string }
  | { readonly via: "server"; readonly token: string }
  | { readonly via: "relay"; readonly socket: string };

export type McpTransport = "stdio" | "http";

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

/**
 * What a backend's CLI can do and how corral uses it, declared once so that callers ask the
 * declaration instead of probing for methods that may be missing.
 */
export interface BackendCapabilities {
  /** What a deploy gives it: a prompt for an agent CLI to work on, or an argv to run. */
  readonly input: "prompt" | "argv";
  /** Whether the CLI can continue a session it ran (`cli`), and whether corral does (`corral`). */
  readonly resume: { readonly cli: boolean; readonly corral: boolean };
  /** Whether the run's cost comes from the CLI, is estimated by corral from tokens, or is unknown. */
  readonly costReporting: "reported" | "estimated" | "none";
  /**
   * The MCP transports the CLI can reach corral's agent tools by (progress, findings,
   * children), for servers configured with headers; empty: it cannot.
   */
  readonly mcpTransports: readonly McpTransport[];
  /**
   * How the agent is granted tool permissions: `allowlist` (named tools allowed, a mode for the
   * rest), or `none` (the program does whatever it does, within the agent's containment).
   */
  readonly permissionModel: "allowlist" | "none";
}

/** How the agent's output stream is read: parsed into events, or kept as plain text. */
export type StreamHandling =
  | { readonly structured: true; parseLine(line: string): StreamEvent[] }
  | { readonly structured: false };

/** Whether the CLI keeps its own transcript of a session, and where. */
export type TranscriptHandling =
  | {
      readonly kept: true;
      /** The transcript of a session run in `cwd`, when the CLI wrote one where it should be. */
      locate(cwd: string, sessionId: string): string | null;
      /** Everything that goes with a transcript when it is removed; empty for a path not laid out as one. */
      files(path: string): string[];
    }
  | { readonly kept: false };

/** The program a backend runs, for checking that it is there before an agent needs it. */
export type Executable =
  | {
      readonly kind: "configured";
      /** The program as configured: a path, or a name looked up on PATH. */
      readonly program: string;
      /** The setting that names it, as a key path (for messages). */
      readonly setting: readonly string[];
      readonly versionArgs: readonly string[];
      /** What to do when it is missing. */
      readonly install: string;
    }
  /** Each deploy names its own program. */
  | { readonly kind: "per-deploy" };

/** What a backend does, made from its settings. */
export interface BackendBehaviour {
  readonly stream: StreamHandling;
  readonly transcripts: TranscriptHandling;
  readonly executable: Executable;
  /** Refuses a deploy this backend cannot run, before anything is recorded. */
  check(input: { readonly command: readonly string[] | null }): Result<void>;
  plan(spec: AgentSpec): Result<BackendPlan>;
}

/** One agent CLI, configured. */
export interface Backend extends BackendBehaviour {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
}

/** What every backend is given besides its own settings. */
export interface BackendContext {
  /** How the agent's CLI starts corral's agent server. */
  readonly agentServer: { readonly command: string; readonly args: readonly string[]; readonly home: string };
}

/**
 * A backend as the registry lists it: its name, its config section (`backends.<name>` in the
 * config file) and how to make it from that section.
 */
export interface BackendDefinition<S extends z.ZodObject = z.ZodObject, N extends string = string> {
  readonly name: N;
  /** One line for help texts and doctor. */
  readonly summary: string;
  /** Its config section; every key has a default, so an absent section is valid. */
  readonly settings: S;
  /**
   * Keys of its section that were flat keys `<name><Key>` before sections existed: the old key
   * in a config file is refused with the new place, the old variable is read as an alias.
   */
  readonly formerFlatKeys: readonly (keyof z.infer<S> & string)[];
  readonly capabilities: BackendCapabilities;
  create(settings: z.infer<S>, context: BackendContext): BackendBehaviour;
}

/** The backend's line parser, for callers that follow any agent's stream: null for a plain one. */
export function lineParser(backend: Backend | undefined): ((line: string) => StreamEvent[]) | null {
  return backend !== undefined && backend.stream.structured ? backend.stream.parseLine : null;
}

/**
 * What goes with a recorded transcript: asked of each backend that keeps transcripts, whose
 * layout alone recognises its own (every other answers nothing), so a damaged row aims nowhere.
 */
export function transcriptFilesOf(backends: Iterable<Backend>, path: string): string[] {
  for (const backend of backends) {
    const files = backend.transcripts.kept ? backend.transcripts.files(path) : [];
    if (files.length > 0) return files;
  }
  return [];
}
