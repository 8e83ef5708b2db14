/**
 * Every size a caller or an agent can make corral handle has a bound, and every reply a budget,
 * so that no input, stored or fresh, can make a message larger than an MCP client accepts (the
 * SDK's client drops the connection past about 10 MiB, and a coordinator that loses its
 * connection loses its agents). The README's "Bounds" table mirrors these.
 */

/** One JSON-RPC message read from the client; a larger one is answered with an error and skipped. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** One tool reply's structured content, serialized; lists page and strings clip to fit. */
export const REPLY_BUDGET_BYTES = 1024 * 1024;

/** An id as a caller sends it (a real one is shorter), and an agent type (see AgentTypeSchema). */
export const MAX_ID_CHARS = 100;
export const MAX_AGENT_TYPE_CHARS = 40;

/** A task's description, and an agent's prompt (which reaches the agent on stdin, from a file). */
export const MAX_DESCRIPTION = 20_000;
export const MAX_PROMPT = 1_000_000;

/** Text fields of a task's context, each. */
export const MAX_CONTEXT_TEXT = 200_000;
/** Items in each list of a task's context, and characters per item. */
export const MAX_CONTEXT_ITEMS = 200;
export const MAX_CONTEXT_ITEM = 4_000;
/** A task's whole context, serialized. */
export const MAX_CONTEXT_BYTES = 512 * 1024;

/** A finding's `data`, serialized. */
export const MAX_FINDING_DATA_BYTES = 64 * 1024;

/** Agent ids one wait may name. */
export const MAX_WAIT_IDS = 1_000;

/** Bytes of lines one output read may return, counted as they are sent (JSON-escaped). */
export const MAX_OUTPUT_BYTES = 512 * 1024;
/** The same for a caller in the process, such as `corral logs`, which has no reply to fit. */
export const MAX_LOCAL_OUTPUT_BYTES = 16 * 1024 * 1024;

/** A command agent's argv: arguments, and bytes in all. */
export const MAX_ARGV_ITEMS = 4_096;
export const MAX_ARGV_BYTES = 1024 * 1024;

/** An agent's own wall-clock limit: a week. */
export const MAX_LIFETIME_MS = 7 * 24 * 3600 * 1000;

/** Rows on one page of a list reply, by default and at most. */
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 500;
/** A list's cursor, as a caller sends it back (one corral made is under 200 characters). */
export const MAX_CURSOR_CHARS = 300;
/** Agents a task's status names as needing attention, beyond its counts. */
export const MAX_ATTENTION = 20;

/** `serve --http`: MCP sessions open at once (a new one ends the one called least recently), and requests served at once (an open event stream counts). */
export const MAX_HTTP_SESSIONS = 32;
export const MAX_HTTP_IN_FLIGHT = 64;
/** Agents' tool calls over HTTP served at once by one corral: several for each of fifty agents. */
export const MAX_AGENT_CALLS_IN_FLIGHT = 256;
/** `serve --http`: a session with no call and no open event stream for this long is ended. */
export const HTTP_SESSION_IDLE_MS = 30 * 60 * 1000;
