import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import type { Corral } from "../src/lifecycle/corral.js";
import { isAlive } from "../src/supervisor/identity.js";
import { CORRAL_BIN } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";

const exec = promisify(execFile);
let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

/** Runs the built corral as a user would, on this test's state dir; never throws. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CORRAL_BIN, ...args], { env: { ...process.env, CORRAL_HOME: corral.config.home } });
    return { code: 0, stdout, stderr };
  } catch (cause) {
    const failure = cause as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

async function sleeper(c: Corral, taskId: string, script = "echo hello from the agent; exec sleep 300") {
  return unwrap(await c.deploy({ taskId, agentType: "worker", prompt: "p", command: ["bash", "-c", script] }));
}

describe("the corral command line", () => {
  it("ps lists the running agents, -a the ended ones too, --json all the fields", async () => {
    corral = openCorral();
    expect((await cli("ps")).stdout).toBe("no agents running (corral ps -a shows the ended ones)\n");
    const task = unwrap(corral.createTask({ description: "ps" }));
    const running = await sleeper(corral, task.id);
    const done = unwrap(await corral.deploy({ taskId: task.id, agentType: "quick", prompt: "p", command: ["true"] }));
    await corral.whenCleaned(done.id);
    unwrap(await corral.report(running.id, { kind: "progress", status: "working", message: "halfway there", progress: 50 }));

    const ps = await cli("ps");
    expect(ps.code).toBe(0);
    const [header, ...rows] = ps.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^AGENT\s+TASK\s+STATUS\s+PROGRESS\s+AGE\s+COST\s+PID\s+RUNNER\s+LATEST$/);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(new RegExp(`^${running.id}\\s+${task.id}\\s+running\\s+50%\\s+\\d+s\\s+-\\s+${running.process!.pid}\\s+process\\s+halfway there$`));
    expect(ps.stdout).not.toContain("\u001b[");

    expect((await cli("ps", "-a")).stdout).toContain(`${done.id}`);
    const json = JSON.parse((await cli("ps", "-a", "--json")).stdout) as {
      counts: Record<string, number>;
      page: { total: number; next: string | null };
      agents: { agent_id: string; status: string; latest_message: string | null }[];
    };
    expect(json.counts).toMatchObject({ running: 1, completed: 1 });
    expect(json.page).toMatchObject({ total: 2, next: null });
    expect(json.agents.map((a) => [a.agent_id, a.status])).toEqual([
      [running.id, "running"],
      [done.id, "completed"],
    ]);
    expect(json.agents[0]?.latest_message).toBe("halfway there");

    // A page at a time: the first says where the next starts, and the next holds the rest.
    const first = await cli("ps", "-a", "--limit", "1");
    expect(first.stdout).toMatch(/^agents 1–1 of 2; next: corral ps -a --cursor [A-Za-z0-9_-]+$/m);
    const cursor = /--cursor (\S+)$/m.exec(first.stdout)?.[1] as string;
    const second = JSON.parse((await cli("ps", "-a", "--limit", "1", "--cursor", cursor, "--json")).stdout) as typeof json;
    expect(second.agents.map((a) => a.agent_id)).toEqual([done.id]);
    expect(second.page).toMatchObject({ offset: 1, returned: 1, next: null });
    const stale = await cli("ps", "--cursor", cursor);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/^corral: INVALID_INPUT: --cursor: the cursor is stale for this list/);
  });

  it("--json prints an error as JSON too, on stdout", async () => {
    corral = openCorral();
    const failure = await exec(process.execPath, [CORRAL_BIN, "ps", "--json"], {
      env: { ...process.env, CORRAL_HOME: corral.config.home, CORRAL_GRACE_MS: "soon" },
    }).then(
      (r) => ({ ...r, code: 0 }),
      (e: { stdout: string; stderr: string; code: number }) => e,
    );
    expect(failure.code).toBe(2);
    expect(JSON.parse(failure.stdout)).toEqual({ error: { code: "CONFIG_INVALID", message: expect.stringContaining("CORRAL_GRACE_MS") as string } });
  });

  it("logs prints an agent's output, live or archived, and follows it to its end with -f", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "logs" }));
    // The agent says "two" only once the test opens the gate, however slow the machine.
    const gate = join(task.workspace, "gate");
    const agent = await sleeper(corral, task.id, `echo one; while [ ! -e ${gate} ]; do sleep 0.02; done; echo two`);
    for (let i = 0; i < 100 && !readFileSync(agent.logPath, "utf8").includes("one"); i += 1) await new Promise((r) => setTimeout(r, 20));
    expect((await cli("logs", agent.id)).stdout).toBe("one\n");
    const following = cli("logs", "-f", agent.id);
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(gate, "");
    const followed = await following;
    expect(followed.stdout).toBe("one\ntwo\n");
    await corral.whenCleaned(agent.id);
    expect((await cli("logs", "--raw", agent.id)).stdout).toBe("one\ntwo\n");
    const missing = await cli("logs", "ghost-000000-000000");
    expect([missing.code, missing.stderr]).toEqual([1, "corral: UNKNOWN_AGENT: AGENT: no agent ghost-000000-000000 (corral ps -a lists them)\n"]);
  });

  it("kill stops an agent, or every live agent of a task, and says what was cleaned", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "kill" }));
    const a = await sleeper(corral, task.id);
    const b = await sleeper(corral, task.id);
    const one = await cli("kill", a.id);
    expect(one.code).toBe(0);
    // The agent's own cgroup where the hierarchy is writable, else tini's tree (held stopped, so
    // both tini and the agent are signalled; in a cgroup tini may exit with its child first).
    expect(one.stdout).toMatch(new RegExp(`^${a.id} killed: [12] processes signalled, 0 survived \\(verified by (cgroup|tree)\\); clean\n$`));
    const again = await cli("kill", a.id);
    expect(again.stdout).toMatch(new RegExp(`^${a.id} had already ended: `));
    const all = await cli("kill", task.id, "--reason", "done for today");
    expect(all.stdout).toMatch(new RegExp(`^${b.id} killed: `));
    expect(corral.agent(b.id)?.reason).toBe("done for today");
    for (const agent of [a, b]) expect(isAlive({ pid: agent.process!.pid, startTime: agent.process!.startTime })).toBe(false);
    const unknown = await cli("kill", "TASK-20260101-000000-00000000");
    expect([unknown.code, unknown.stderr]).toEqual([1, "corral: UNKNOWN_TASK: TASK: no task TASK-20260101-000000-00000000\n"]);
  });

  it("stats shows each running agent's processes, memory, CPU, descriptors and log, and the disk per task", async () => {
    corral = openCorral();
    const task = unwrap(corral.createTask({ description: "stats" }));
    const agent = await sleeper(corral, task.id);
    await new Promise((r) => setTimeout(r, 100));
    const stats = JSON.parse((await cli("stats", "--json")).stdout) as {
      agents: { agent_id: string; processes: number; resident_mb: number; open_files: number; log_bytes: number }[];
      disk: { tasks: Record<string, number> };
    };
    expect(stats.agents).toHaveLength(1);
    expect(stats.agents[0]).toMatchObject({
      agent_id: agent.id,
      log_bytes: "hello from the agent\n".length,
      runner: { kind: "process", processes: 0, resident_mb: 0 },
    });
    expect(stats.agents[0]!.processes).toBeGreaterThanOrEqual(1);
    expect(stats.agents[0]!.resident_mb).toBeGreaterThan(0);
    expect(stats.disk.tasks[task.id]).toBe("hello from the agent\n".length);
    const text = (await cli("stats")).stdout;
    expect(text).toMatch(new RegExp(`^AGENT\\s+PROCESSES\\s+RSS\\s+CPU\\s+FDS\\s+LOG\\n${agent.id}\\s+\\d+\\s+[\\d.]+ MiB`));
    expect(text).toMatch(/^cleanups: 0 done, 0 partial, 0 running; success -;/m);
  });
});
