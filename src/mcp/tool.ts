import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  CallToolRequestSchema,
  ErrorCode as RpcErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
  type Tool as PublishedTool,
  type ToolAnnotations,
} from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import { publishedSchema } from "../contract/json-schema.js";
import { toWire } from "../contract/wire.js";
import { REPLY_BUDGET_BYTES } from "../domain/bounds.js";
import type { McpText } from "../domain/config.js";
import type { Result } from "../domain/errors.js";
import { parseInput, renameField } from "../lifecycle/inputs.js";
import { errorResult, toolResult, type TextForm } from "./results.js";

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolSpec<I extends z.ZodObject, O extends z.ZodObject> {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly annotations: ToolAnnotations;
  /** The arguments, in the tool's own words (snake_case, as published): checked before `run`. */
  readonly input: I;
  /** The answer, camelCase like every view: published and sent in snake_case. */
  readonly output: O;
  /** The service's field names this tool calls otherwise (`parent_id` → `parent`), for the errors it passes on. */
  readonly fields?: Readonly<Record<string, string>>;
  run(input: z.output<I>, extra: ToolExtra): Promise<Result<z.input<O>>> | Result<z.input<O>>;
}

/** A tool as served: what tools/list publishes of it, and its call, answering with text of the given form. */
export interface Tool {
  readonly definition: PublishedTool;
  call(args: unknown, extra: ToolExtra, text?: TextForm): Promise<CallToolResult>;
}

/** Any answer may come clipped to the reply budget (results.ts), and then says so. */
const clippable = (output: z.ZodObject): z.ZodObject => {
  const made = clippables.get(output);
  if (made !== undefined) return made;
  const extended = "truncated" in output.shape ? output : output.extend({ truncated: z.boolean().optional().describe("set when the answer was clipped to fit the reply budget") });
  clippables.set(output, extended);
  return extended;
};
/** One extended schema per output, so that its published schema is made once too. */
const clippables = new WeakMap<z.ZodObject, z.ZodObject>();

/**
 * A tool from one source: its zod input and output are what it checks, what it answers, and
 * (through contract/) what tools/list publishes, so the three never disagree.
 */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(spec: ToolSpec<I, O>): Tool {
  const output = clippable(spec.output);
  return {
    definition: {
      name: spec.name,
      title: spec.title,
      description: spec.description,
      // The SDK types a schema as an object with properties; publishedSchema gives exactly that for an object.
      inputSchema: publishedSchema(spec.input, "input") as PublishedTool["inputSchema"],
      outputSchema: publishedSchema(output, "output") as PublishedTool["outputSchema"],
      annotations: spec.annotations,
    },
    async call(args, extra, text = "json") {
      const input = parseInput(spec.input, args ?? {});
      if (!input.ok) return errorResult(input.error);
      const result = renameField(await spec.run(input.value, extra), spec.fields ?? {});
      return toolResult(result.ok ? { ok: true, value: toWire(output, result.value) as object } : result, REPLY_BUDGET_BYTES, { form: text, tool: spec.name });
    },
  };
}

/**
 * The clients known to give their model a tool answer's structured content in place of its
 * text: Claude Code (2.1.x: a result with structuredContent reaches the model as that JSON,
 * its text blocks dropped). Others get the JSON as text, as the spec advises.
 */
const READ_STRUCTURED_CONTENT: ReadonlySet<string> = new Set(["claude-code"]);

/** The text form a client gets, by the `mcpText` setting, or with `auto` by the name it gave at initialize. */
export function textFormFor(setting: McpText, clientName: string | undefined): TextForm {
  if (setting !== "auto") return setting;
  return clientName !== undefined && READ_STRUCTURED_CONTENT.has(clientName) ? "brief" : "json";
}

/**
 * Serves `tools` on `server`: tools/list publishes their definitions, tools/call checks the
 * arguments and answers. corral serves its tools itself rather than through McpServer's
 * registerTool, so that a refused argument is an error like any other (`{code, message,
 * field}`), and the published schemas are exactly what contract/ makes.
 */
export function serveTools(server: McpServer, tools: readonly Tool[], text: McpText = "auto"): void {
  const byName = new Map(tools.map((tool) => [tool.definition.name, tool]));
  server.server.registerCapabilities({ tools: { listChanged: false } });
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: tools.map((tool) => tool.definition) }));
  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = byName.get(request.params.name);
    if (tool === undefined) throw new McpError(RpcErrorCode.InvalidParams, `no tool ${request.params.name}: tools/list names the tools`);
    return tool.call(request.params.arguments, extra, textFormFor(text, server.server.getClientVersion()?.name));
  });
}
