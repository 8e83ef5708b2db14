import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { scriptBlock, startModelServer, type Step } from "../../demo/model-server/index.js";
import { ClaudeSettingsSchema as claudeSettings } from "../../backends/claude/settings.js";
import { envName } from "../../domain/config.js";
import { unwrap } from "../../domain/errors.js";
import { loadConfig } from "../../lifecycle/config-loader.js";
import { Corral } from "../../lifecycle/corral.js";
import { corralRoot } from "../../lifecycle/self.js";
import { serveOwnAgents } from "../../mcp/agent-serving.js";
import { findExecutable } from "../../runners/executables.js";
import { exitCodeOf, orchestrate, type RunOutcome, type RunPlan } from "../orchestrate.js";
import { die } from "../exit.js";
import { terminalLogger } from "../session.js";
import { listenForStop } from "../signals.js";
import { VERSION } from "../version.js";

const tool = (name: string, input: Record<string, unknown>): Step => ({ tool: `mcp__corral__${name}`, input });
const progress = (status: string, message: string, value: number): Step => tool("update_agent_progress", { status, message, progress: value });

/** Three scripted Claude Code agents: each reports and finds something; the lead spawns a reviewer. */
function demoPlan(): RunPlan {
  const reviewer = [progress("working", "reviewing the lead's plan", 30), progress("completed", "the plan holds", 100), { say: "Review done." }];
  const worker = (name: string, finding: string): Omit<RunPlan["agents"][number], "taskId"> => ({
    agentType: name,
    prompt: `Play the ${name}.\n\n${scriptBlock([
      progress("working", `${name} started`, 10),
      tool("report_agent_finding", { finding_type: "observation", severity: "medium", message: finding }),
      progress("working", `${name} halfway`, 50),
      progress("completed", `${name} finished`, 100),
      { say: `${name} signing off.` },
    ])}`,
  });
  return {
    description: "corral demo: three scripted Claude Code agents against a local model server",
    agents: [
      {
        agentType: "lead",
        prompt: `Play the lead.\n\n${scriptBlock([
          progress("working", "planning the work", 20),
          tool("spawn_child_agent", { child_agent_type: "reviewer", child_prompt: `Play the reviewer.\n\n${scriptBlock(reviewer)}` }),
          { tool: "Bash", input: { command: "sleep 6", description: "give the reviewer time" } },
          progress("completed", "plan made and reviewed", 100),
          { say: "Lead done." },
        ])}`,
      },
      worker("researcher", "the parser drops trailing comments"),
      worker("tester", "two tests depend on the clock"),
    ],
  };
}

/**
 * The claude to run: the one configured (CORRAL_BACKENDS_CLAUDE_PATH, else `claude` on PATH), else, in
 * corral's own checkout, the pinned devDependency. An installed corral does not bring claude.
 */
function claudePath(configured: string): string | null {
  const found = findExecutable(configured, process.env.PATH);
  if (found !== null) return found;
  const packaged = join(corralRoot(), "node_modules", ".bin", "claude");
  return existsSync(packaged) ? packaged : null;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("a full orchestration with the real claude CLI against a scripted local model server: no API key, nothing left behind")
    .action(async () => {
      const config = loadConfig();
      if (!config.ok) die(config.error);
      const configured = claudeSettings.parse(config.value.backends.claude ?? {}).path;
      const claude = claudePath(configured);
      if (claude === null) {
        die({
          code: "LAUNCH_FAILED",
          message:
            `the demo runs the real claude CLI, and ${configured} is not on PATH: install it (npm install -g @anthropic-ai/claude-code), ` +
            "or set CORRAL_BACKENDS_CLAUDE_PATH to its path; in corral's checkout, npm ci installs it",
        });
      }
      // From here on a signal stops the demo's agents and removes its dir before corral exits.
      const stop = listenForStop();
      // Chosen before the demo sets CORRAL_LOG_LEVEL for its agents' servers, below.
      const logger = terminalLogger(config.value.logLevel);
      const home = mkdtempSync(join(tmpdir(), "corral-demo-"));
      // claude writes ~/.claude.json, transcripts, session-env and MCP logs under its config
      // dir: the demo's agents get a home of their own inside the demo's dir, removed with it.
      const userHome = join(home, "home");
      mkdirSync(join(userHome, ".claude"), { recursive: true, mode: 0o700 });
      const model = await startModelServer();
      // The agents, and the corral servers they start, inherit this environment: they talk to
      // the local server, never the network, and find the same claude and state dir.
      Object.assign(process.env, {
        ANTHROPIC_BASE_URL: model.url,
        ANTHROPIC_API_KEY: "corral-demo",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        DISABLE_AUTOUPDATER: "1",
        DISABLE_TELEMETRY: "1",
        CORRAL_HOME: home,
        HOME: userHome,
        CLAUDE_CONFIG_DIR: join(userHome, ".claude"),
        [envName(["backends", "claude", "path"])]: claude,
        [envName(["backends", "claude", "allowedTools"])]: "Bash",
        CORRAL_BALLAST_MB: "0",
        CORRAL_MIN_FREE_MB: "0",
        CORRAL_LOG_LEVEL: "warn",
      });
      const corral = unwrap(Corral.open(unwrap(loadConfig()), logger, { watch: false }));
      serveOwnAgents(corral, VERSION, logger);
      let outcome: RunOutcome = "failed";
      try {
        process.stdout.write(`corral demo: state in ${home}, model server at ${model.url}\n`);
        outcome = await orchestrate(corral, demoPlan(), stop, (text) => process.stdout.write(text));
      } finally {
        await corral.shutdown("demo over");
        await model.close();
        rmSync(home, { recursive: true, force: true });
        stop.dispose();
      }
      if (outcome === "completed") {
        process.stdout.write("every agent reported, finished and was cleaned up; nothing is left running\n");
        process.stdout.write("(claude computed the costs from the scripted server's token counts: nothing was billed)\n");
      }
      process.exitCode = exitCodeOf(outcome, stop);
    });
}
