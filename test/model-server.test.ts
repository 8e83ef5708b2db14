import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { scriptBlock, startModelServer, type ModelServer, type Step } from "../src/demo/model-server/index.js";

const CLAUDE = join(import.meta.dirname, "..", "node_modules", ".bin", "claude");
const ARGV = ["-p", "--output-format", "stream-json", "--verbose", "--model", "claude-sonnet-4-5", "--permission-mode", "bypassPermissions"];

type StreamEvent = Record<string, unknown> & { type: string };

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: StreamEvent[];
  stderr: string;
}

interface Run {
  child: ChildProcess;
  pid: number;
  ended: Promise<Ended>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(): Promise<ModelServer> {
  const server = await startModelServer();
  cleanups.push(() => server.close());
  return server;
}

const prompt = (steps: Step[]): string => `Run the scripted test below.\n\n${scriptBlock(steps)}\n`;

/** Whether any process is left in the group the CLI led (it is started detached). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw cause;
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const start = Date.now(); !check(); await sleep(20)) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
  }
}

function claudeEnv(server: ModelServer, dir: string, titles: boolean): NodeJS.ProcessEnv {
  const home = join(dir, "home");
  // Inherited CLAUDECODE / CLAUDE_CODE_* make a nested CLI act as a child session, and
  // ANTHROPIC_* could point it at another endpoint or model.
  const inherited = Object.entries(process.env).filter(
    ([name]) => name !== "CLAUDECODE" && !name.startsWith("CLAUDE_CODE_") && !name.startsWith("ANTHROPIC_"),
  );
  return {
    ...Object.fromEntries(inherited),
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, ".claude"),
    // Otherwise the CLI leaves /tmp/claude-<uid>/<cwd>/<session>/tasks behind after every run.
    TMPDIR: join(dir, "tmp"),
    ANTHROPIC_BASE_URL: server.url,
    ANTHROPIC_API_KEY: "test-key",
    // bypassPermissions (= --dangerously-skip-permissions) is refused as root unless this is set.
    IS_SANDBOX: "1",
    DISABLE_TELEMETRY: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_ERROR_REPORTING: "1",
    // Without it the CLI resolves api.anthropic.com and asks the model for a session title.
    ...(titles ? {} : { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" }),
  };
}

/** Starts `claude -p` on the prompt, in its own HOME and process group. */
function runClaude(server: ModelServer, text: string, { titles = false } = {}): Run {
  const dir = mkdtempSync(join(process.env.CORRAL_TEST_ROOT ?? tmpdir(), "claude-"));
  const work = join(dir, "work");
  for (const sub of [join("home", ".claude"), "tmp", "work"]) mkdirSync(join(dir, sub), { recursive: true });
  const child = spawn(CLAUDE, ARGV, { cwd: work, env: claudeEnv(server, dir, titles), detached: true, stdio: ["pipe", "pipe", "pipe"] });
  const pid = child.pid;
  if (pid === undefined) throw new Error("claude did not start");
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin.on("error", (cause: NodeJS.ErrnoException) => {
    // A CLI killed before reading its prompt closes the pipe; the test sees that from the exit.
    if (cause.code !== "EPIPE") throw cause;
  });
  child.stdin.end(text);
  const ended = new Promise<Ended>((resolve, reject) => {
    child.once("error", reject);
    // "close", not "exit": the pipes are closed by then, so no descriptor outlives the run.
    child.once("close", (code, signal) => {
      const events = stdout
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as StreamEvent);
      resolve({ code, signal, events, stderr });
    });
  });
  cleanups.push(async () => {
    // Only a test that failed midway leaves the CLI running; after a CLI that exited, anything
    // still in its group is a leak for the wait below to report.
    if (child.exitCode === null && child.signalCode === null) process.kill(-pid, "SIGKILL");
    await ended;
    await until("the CLI's process group to go", () => !groupAlive(pid));
    rmSync(dir, { recursive: true, force: true });
  });
  return { child, pid, ended };
}

const resultOf = (ended: Ended): StreamEvent | undefined => ended.events.find((e) => e.type === "result");

/** Content blocks of the assistant or user messages in the stream. */
function blocks(ended: Ended, type: "assistant" | "user"): Record<string, unknown>[] {
  return ended.events
    .filter((e) => e.type === type)
    .flatMap((e) => {
      const content = (e.message as { content?: unknown } | undefined)?.content;
      return Array.isArray(content) ? (content as Record<string, unknown>[]) : [];
    });
}

/** How the server answered each Messages request, in order. */
const answers = (server: ModelServer): string[] => server.requests.filter((r) => r.path === "/v1/messages").map((r) => r.answer);

function post(server: ModelServer, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    // agent: false, so no pooled keep-alive socket outlives the test.
    const req = request(`${server.url}${path}`, { method: "POST", agent: false, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const messages = (steps: Step[], assistantTurns = 0): Record<string, unknown> => ({
  model: "claude-sonnet-4-5",
  max_tokens: 1000,
  tools: [{ name: "Bash", input_schema: { type: "object" } }],
  messages: [
    { role: "user", content: [{ type: "text", text: prompt(steps) }] },
    ...Array.from({ length: assistantTurns }, () => [
      { role: "assistant", content: [{ type: "text", text: "earlier" }] },
      { role: "user", content: "go on" },
    ]).flat(),
  ],
});

describe("the scripted model server, over plain HTTP", () => {
  it("plays the step the conversation has reached, as JSON when not streaming", async () => {
    const server = await serve();
    const steps: Step[] = [{ say: "first" }, { tool: "Bash", input: { command: "true" } }, { say: "second" }];
    const first = await post(server, "/v1/messages?beta=true", messages(steps));
    expect(first).toMatchObject({
      status: 200,
      json: {
        model: "claude-sonnet-4-5",
        stop_reason: "tool_use",
        content: [{ type: "text", text: "first" }, { type: "tool_use", name: "Bash", input: { command: "true" } }],
        usage: { cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    });
    expect(await post(server, "/v1/messages", messages(steps, 1))).toMatchObject({
      json: { stop_reason: "end_turn", content: [{ type: "text", text: "second" }] },
    });
    expect(await post(server, "/v1/messages", messages(steps, 2))).toMatchObject({
      json: { stop_reason: "end_turn", content: [{ type: "text", text: "Script complete." }] },
    });
    expect(await post(server, "/v1/messages", { ...messages(steps), tools: [] })).toMatchObject({ json: { content: [{ text: "Scripted session" }] } });
    expect(await post(server, "/v1/messages/count_tokens", messages(steps))).toMatchObject({ status: 200, json: { input_tokens: expect.any(Number) } });
    expect(await post(server, "/v1/complete", {})).toMatchObject({ status: 404, json: { type: "error", error: { type: "not_found_error" } } });
    expect(await post(server, "/v1/messages", messages([{ say: "x" }, { hang: true }]))).toMatchObject({
      status: 400,
      json: { error: { message: expect.stringContaining("invalid corral-script") } },
    });
    expect(answers(server)).toEqual(["turn 0", "turn 1", "after script", "side", "invalid script"]);
  });

  it("close() ends a request that hangs", async () => {
    const server = await serve();
    const hung = post(server, "/v1/messages", messages([{ hang: true }]));
    await until("the hanging request", () => answers(server).includes("turn 0 (hang)"));
    await server.close();
    await expect(hung).rejects.toThrow();
  });
});

describe("the real claude CLI against the scripted model server", () => {
  it("ends with the scripted text, a cost and a session id", async () => {
    const server = await serve();
    const ended = await runClaude(server, prompt([{ say: "hello from the script" }])).ended;
    expect(ended.code, ended.stderr).toBe(0);
    expect(resultOf(ended)).toMatchObject({
      subtype: "success",
      is_error: false,
      result: expect.stringContaining("hello from the script"),
      num_turns: 1,
      session_id: expect.any(String),
      total_cost_usd: expect.any(Number),
    });
    expect(resultOf(ended)?.total_cost_usd).toBeGreaterThan(0);
    expect(server.requests[0]).toMatchObject({ method: "HEAD", path: "/" });
    expect(answers(server)).toEqual(["turn 0"]);
  });

  it("runs a scripted built-in tool and goes on with the tool's result", async () => {
    const server = await serve();
    const input = { command: "echo scripted-tool-ran", description: "echo" };
    const ended = await runClaude(server, prompt([{ say: "running it" }, { tool: "Bash", input }, { say: "done" }])).ended;
    expect(ended.code, ended.stderr).toBe(0);
    const toolUse = blocks(ended, "assistant").find((b) => b.type === "tool_use");
    expect(toolUse).toMatchObject({ name: "Bash", input });
    expect(blocks(ended, "user")).toContainEqual(
      expect.objectContaining({ type: "tool_result", tool_use_id: toolUse?.id, content: expect.stringContaining("scripted-tool-ran") }),
    );
    expect(resultOf(ended)).toMatchObject({ subtype: "success", is_error: false, result: "done", num_turns: 2 });
    expect(answers(server)).toEqual(["turn 0", "turn 1"]);
  });

  it("answers the CLI's title request without using up a step", async () => {
    const server = await serve();
    const input = { command: "echo titled", description: "echo" };
    const ended = await runClaude(server, prompt([{ tool: "Bash", input }, { say: "done" }]), { titles: true }).ended;
    expect(ended.code, ended.stderr).toBe(0);
    expect(resultOf(ended)).toMatchObject({ is_error: false, result: "done" });
    // The title request quotes the prompt, script included, but offers no tools.
    const side = server.requests.filter((r) => r.answer === "side");
    expect(side.length).toBeGreaterThan(0);
    expect(JSON.stringify(side[0]?.body)).toContain("<corral-script>");
    expect(answers(server).filter((a) => a !== "side")).toEqual(["turn 0", "turn 1"]);
  });

  it("gives up at once on a scripted 400", async () => {
    const server = await serve();
    const ended = await runClaude(server, prompt([{ fail: 400, message: "scripted failure" }])).ended;
    expect(ended.code).not.toBe(0);
    // 2.1.197 reports an API error as subtype "success" with is_error set.
    expect(resultOf(ended)).toMatchObject({ is_error: true, api_error_status: 400, result: expect.stringContaining("scripted failure") });
    expect(answers(server)).toEqual(["turn 0 (fail 400)"]);
  });

  it("keeps waiting on a request that hangs until it is killed", async () => {
    const server = await serve();
    const run = runClaude(server, prompt([{ hang: true }]));
    await until("the hanging request", () => answers(server).includes("turn 0 (hang)"));
    await sleep(2000);
    expect(run.child.exitCode).toBeNull();
    expect(run.child.signalCode).toBeNull();
    process.kill(-run.pid, "SIGKILL");
    const ended = await run.ended;
    expect(ended.signal).toBe("SIGKILL");
    await until("the CLI's process group to go", () => !groupAlive(run.pid));
    await server.close();
    expect(answers(server)).toEqual(["turn 0 (hang)"]);
  });
});
