import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { AgentId } from "../src/domain/ids.js";
import { loadConfig } from "../src/lifecycle/config-loader.js";
import { Corral } from "../src/lifecycle/corral.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { isAlive, type ProcessIdentity } from "../src/supervisor/identity.js";
import { readStat } from "../src/supervisor/procfs.js";
import { agentScript } from "./helpers/sandbox.js";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";

// Corrals are shut down (their agents killed) even when a test fails half-way.
const opened: (Corral | Coordinator)[] = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await ("shutdown" in thing ? thing.shutdown("test over") : thing.close());
});

/**
 * A long grace, so that a shutdown that did not shrink it to the deadline would take 20 s; and
 * a deadline well inside the 4 s the SDK's client waits after closing stdin before SIGKILL.
 */
const SLOW_GRACE = { CORRAL_GRACE_MS: "20000", CORRAL_SHUTDOWN_DEADLINE_MS: "2000" };

async function twentyAgents(env: Record<string, string>): Promise<{ server: Coordinator; agents: { id: AgentId; root: ProcessIdentity }[] }> {
  const server = await startCoordinator(env);
  const { task_id } = await server.call<{ task_id: string }>("create_real_task", { description: "shutdown" });
  const agents = [];
  for (let i = 0; i < 20; i += 1) {
    const command = i % 2 === 0 ? ["sleep", "300"] : [agentScript("ignore-term.sh")];
    const deployed = await server.call<{ agent_id: string; pid: number }>("deploy_headless_agent", { task_id, agent_type: "busy", prompt: "p", command });
    agents.push({ id: deployed.agent_id as AgentId, root: { pid: deployed.pid, startTime: readStat(deployed.pid)!.startTime } });
  }
  await sleep(100);
  return { server, agents };
}

async function exited(pid: number): Promise<number> {
  const started = performance.now();
  while (readStat(pid) !== null) await sleep(10);
  return performance.now() - started;
}

function readStore(home: string): Corral {
  const corral = unwrap(Corral.open(unwrap(loadConfig({ ...process.env, CORRAL_HOME: home })), createLogger("silent"), { watch: false }));
  opened.push(corral);
  return corral;
}

describe("corral serve shuts down", () => {
  it.each([
    ["on SIGTERM", (s: Coordinator) => process.kill(s.transport.pid!, "SIGTERM"), "process"],
    ["when its client closes stdin", (s: Coordinator) => void s.close(), "process"],
    ["on SIGTERM, with its agents in tmux", (s: Coordinator) => process.kill(s.transport.pid!, "SIGTERM"), "tmux"],
  ])("%s: every agent killed in parallel within the deadline, each row ended and cleaned", async (_how, stop, runner) => {
    const { server, agents } = await twentyAgents({ ...SLOW_GRACE, CORRAL_RUNNER: runner });
    const pid = server.transport.pid!;
    stop(server);
    const took = await exited(pid);
    await server.close();
    expect(took).toBeLessThan(10_000);
    const store = readStore(server.home);
    for (const agent of agents) {
      expect(isAlive(agent.root)).toBe(false);
      const row = store.agent(agent.id)!;
      expect([row.status, row.cleanupStatus]).toEqual(["killed", "done"]);
      expect(row.reason).toMatch(/^corral stopped: (SIGTERM|its MCP client went away)$/);
    }
  });

  it("with onShutdown=detach leaves its agents running, and the next corral adopts them", async () => {
    const { server, agents } = await twentyAgents({ CORRAL_ON_SHUTDOWN: "detach" });
    const pid = server.transport.pid!;
    process.kill(pid, "SIGTERM");
    await exited(pid);
    await server.close();
    for (const agent of agents) expect(isAlive(agent.root)).toBe(true);

    const next = unwrap(
      Corral.open({ ...unwrap(loadConfig({ ...process.env, CORRAL_HOME: server.home })), graceMs: 200 }, createLogger("silent"), { watch: false }),
    );
    opened.push(next);
    const report = await next.reconcile();
    expect(report.adopted).toHaveLength(20);
    for (const agent of agents) unwrap(await next.kill(agent.id, "test over"));
    for (const agent of agents) expect(isAlive(agent.root)).toBe(false);
  });
});
