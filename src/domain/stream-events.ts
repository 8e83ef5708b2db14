/**
 * What an agent CLI's output stream says, in corral's terms, whichever CLI wrote it. Backends
 * turn their CLI's lines into these; the lifecycle stores them and keeps the totals.
 */
export type StreamEvent =
  | {
      readonly kind: "init";
      readonly sessionId: string;
      readonly model: string | null;
      /** Whether corral's own MCP server connected; null when the CLI does not say. */
      readonly corralConnected: boolean | null;
      readonly mcpServers: readonly { readonly name: string; readonly status: string }[];
    }
  | { readonly kind: "text"; readonly text: string }
  /** Tokens of one model turn, counted as the turn ends. */
  | { readonly kind: "usage"; readonly messageId: string | null; readonly inputTokens: number; readonly outputTokens: number }
  | { readonly kind: "tool_call"; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly kind: "tool_result"; readonly id: string; readonly isError: boolean; readonly excerpt: string }
  | {
      readonly kind: "result";
      readonly isError: boolean;
      readonly subtype: string;
      readonly text: string | null;
      readonly sessionId: string | null;
      readonly costUsd: number | null;
      readonly inputTokens: number;
      readonly outputTokens: number;
      readonly numTurns: number | null;
      readonly durationMs: number | null;
      readonly permissionDenials: readonly unknown[];
    }
  | { readonly kind: "error"; readonly message: string };
