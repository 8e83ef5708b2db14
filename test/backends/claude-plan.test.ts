import { describe, expect, it } from "vitest";
import { PARENT_SESSION_VARIABLES } from "../../src/backends/claude/plan.js";
import { projectDirName, transcriptFiles } from "../../src/backends/claude/transcript.js";
import type { AgentSpec } from "../../src/backends/backend.js";
import { createBackend, findBackend } from "../../src/backends/registry.js";
import { unwrap } from "../../src/domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../../src/domain/ids.js";

const spec: AgentSpec = {
  agentId: "writer-120000-abcdef" as AgentId,
  taskId: "TASK-20260101-120000-0123abcd" as TaskId,
  agentType: "writer" as AgentType,
  prompt: "Write the parser tests.",
  cwd: "/project",
  parentId: "lead-120000-000001" as AgentId,
  depth: 1,
  task: { description: "Harden the parser", context: { success_criteria: ["tests pass"], constraints: ["no new deps"] } },
  dir: "/state/agents/writer",
  tools: { via: "server", token: "secret-token" },
  command: null,
  model: "sonnet",
  effort: "high",
  resume: null,
};

const backend = unwrap(
  createBackend(
    unwrap(findBackend("claude")),
    { path: "/bin/claude", permissionMode: "acceptEdits", allowedTools: ["Bash"], strictMcp: true },
    { agentServer: { command: "/usr/bin/node", args: ["/corral/main.js", "serve", "--agent"], home: "/state" } },
  ),
);

describe("the claude backend's plan", () => {
  const plan = unwrap(backend.plan(spec));

  it("runs claude headless with corral's server, its tools allowed, and no prompt on the command line", () => {
    expect(plan.argv).toEqual([
      "/bin/claude", "-p", "--output-format", "stream-json", "--verbose",
      "--mcp-config", "/state/agents/writer/mcp.json", "--strict-mcp-config",
      "--allowedTools", "mcp__corral", "Bash",
      "--permission-mode", "acceptEdits", "--model", "sonnet", "--effort", "high",
    ]);
    expect(plan.argv.join(" ")).not.toContain("parser tests");
    expect(plan.stdin).toBe("prompt.md");
  });

  it("keeps the agent's token out of the MCP config file and passes it in the agent's environment", () => {
    expect(JSON.parse(plan.files["mcp.json"] as string)).toEqual({
      mcpServers: {
        corral: {
          type: "stdio",
          command: "/usr/bin/node",
          args: ["/corral/main.js", "serve", "--agent"],
          env: { CORRAL_AGENT_TOKEN: "${CORRAL_AGENT_TOKEN}", CORRAL_HOME: "/state" },
        },
      },
    });
    expect(plan.files["mcp.json"]).not.toContain("secret-token");
    expect(plan.env.CORRAL_AGENT_TOKEN).toBe("secret-token");
  });

  it("points an agent that calls its tools over HTTP at its corral's URL, the token only in a header expression", () => {
    const overHttp = unwrap(backend.plan({ ...spec, tools: { via: "http", url: "http://127.0.0.1:4321/mcp", token: "secret-token" } }));
    expect(JSON.parse(overHttp.files["mcp.json"] as string)).toEqual({
      mcpServers: { corral: { type: "http", url: "http://127.0.0.1:4321/mcp", headers: { Authorization: "Bearer ${CORRAL_AGENT_TOKEN}" } } },
    });
    expect(overHttp.files["mcp.json"]).not.toContain("secret-token");
    expect(overHttp.env.CORRAL_AGENT_TOKEN).toBe("secret-token");
  });

  it("gives a contained agent no token: its server relays to the socket that stands for it", () => {
    const contained = unwrap(backend.plan({ ...spec, tools: { via: "relay", socket: "/state/relay/writer-120000-abcdef/mcp.sock" } }));
    const server = (JSON.parse(contained.files["mcp.json"] as string) as { mcpServers: { corral: { env: Record<string, string> } } }).mcpServers.corral;
    expect(server.env).toEqual({ CORRAL_AGENT_RELAY: "/state/relay/writer-120000-abcdef/mcp.sock" });
    expect(contained.env.CORRAL_AGENT_TOKEN).toBeUndefined();
    expect(JSON.stringify(contained)).not.toContain("secret-token");
  });

  it("tells the agent who it is, its mission, the task's context and how to report", () => {
    const prompt = plan.files["prompt.md"] as string;
    for (const text of ["writer-120000-abcdef", "TASK-20260101-120000-0123abcd", "spawned by agent lead-120000-000001", "depth 1", "Write the parser tests.", "Harden the parser", "- tests pass", "- no new deps", "mcp__corral__update_agent_progress", 'status "completed"']) {
      expect(prompt).toContain(text);
    }
  });

  it("removes a parent Claude Code session's variables, keeps scratch files in the agent dir, and waits for MCP", () => {
    for (const name of PARENT_SESSION_VARIABLES) expect(plan.env[name]).toBeNull();
    expect(plan.env.TMPDIR).toBe("/state/agents/writer/tmp");
    expect(plan.dirs).toEqual(["tmp"]);
    expect(plan.env.MCP_CONNECTION_NONBLOCKING).toBe("0");
    expect(plan.env.ANTHROPIC_API_KEY).toBeUndefined();
  });
});

describe("claude's transcript layout", () => {
  it("names a project as the CLI does: every other character made -, a long path cut with its hash", () => {
    expect(projectDirName("/tmp/corral-x/workspaces/TASK-20260101-120000-0123abcd")).toBe("-tmp-corral-x-workspaces-TASK-20260101-120000-0123abcd");
    const long = `/${"a".repeat(250)}`;
    expect(projectDirName(long)).toMatch(new RegExp(`^-a{199}-[0-9a-z]+$`));
  });

  it("removes only what is laid out as a transcript, so a damaged row aims at nothing else", () => {
    const session = "72765600-a124-4ba7-a6a4-dd0a7bf044d7";
    expect(transcriptFiles(`/h/.claude/projects/-p/${session}.jsonl`)).toEqual([
      `/h/.claude/projects/-p/${session}.jsonl`,
      `/h/.claude/projects/-p/${session}`,
      `/h/.claude/session-env/${session}`,
    ]);
    for (const path of ["/etc/passwd", `/h/.claude/projects/-p/not-a-session.jsonl`, `/h/.claude/other/-p/${session}.jsonl`, `/h/projects/../${session}.jsonl`]) {
      expect(transcriptFiles(path)).toEqual([]);
    }
  });
});
