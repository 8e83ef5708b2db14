import * as z from "zod";

export const PERMISSION_MODES = ["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"] as const;

/** The `backends.claude` section of the configuration. */
export const ClaudeSettingsSchema = z
  .object({
    path: z.string().min(1).default("claude").describe("the claude executable: a path, or a name on PATH"),
    permissionMode: z.enum(PERMISSION_MODES).default("acceptEdits").describe("--permission-mode for claude agents"),
    allowedTools: z
      .preprocess((v) => (typeof v === "string" ? v.split(",").map((t) => t.trim()).filter(Boolean) : v), z.array(z.string().min(1)))
      .default([])
      .describe("tools claude agents may use without asking, besides corral's"),
    strictMcp: z
      .preprocess((v) => (v === "1" || v === "true" ? true : v === "0" || v === "false" ? false : v), z.boolean())
      .default(false)
      .describe("give claude agents only corral's MCP server, not the project's"),
  })
  .strict();

export type ClaudeSettings = z.infer<typeof ClaudeSettingsSchema>;
