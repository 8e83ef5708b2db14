import { setTimeout as sleep } from "node:timers/promises";
import type { CorralChild, ToolAnswer } from "./corral-child.js";

/**
 * The churn: as many workers as corral's concurrency limit, each deploying one command agent
 * after another through the MCP tools and seeing it to its end. The kinds cover every way an
 * agent ends and every way it can try to leave something behind; each kind runs on both
 * runners in turn.
 */

type Runner = "process" | "tmux";

interface Kind {
  readonly name: string;
  /** The statuses this kind may end in; anything else is counted as unexpected. */
  readonly expected: readonly string[];
  readonly command: (i: number, floodBytes: number) => string[];
  /** Killed this many ms after deploy, instead of awaited. */
  readonly killAfterMs?: (i: number) => number;
  readonly maxRuntimeS?: number;
}

const KINDS: readonly Kind[] = [
  { name: "short", expected: ["completed"], command: () => ["sh", "-c", "echo short"] },
  { name: "long", expected: ["completed"], command: (i) => ["sh", "-c", `sleep ${1 + (i % 4)}; echo long`] },
  { name: "killed", expected: ["killed"], command: () => ["sleep", "600"], killAfterMs: (i) => 100 + ((i * 137) % 1400) },
  { name: "failing", expected: ["failed"], command: () => ["sh", "-c", "echo failing >&2; exit 3"] },
  { name: "signalled", expected: ["crashed", "failed"], command: (i) => ["sh", "-c", `kill -${i % 2 === 0 ? "KILL" : "SEGV"} $$`] },
  { name: "flood", expected: ["completed"], command: (_i, bytes) => ["sh", "-c", `yes corral-soak-flooding-the-log-with-lines | head -c ${bytes}`] },
  {
    name: "escaper",
    expected: ["completed"],
    // A setsid'd child and a double-forked one, both outliving the agent: cleanup must reap them.
    command: () => ["sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 & (sleep 600 </dev/null >/dev/null 2>&1 &); echo forked"],
  },
  { name: "overtime", expected: ["timed_out"], command: () => ["sleep", "600"], maxRuntimeS: 1 },
];

/** How often each kind comes round in one cycle: mostly short lifecycles, as a day mostly is. */
const CYCLE: readonly Kind[] = ["short", "short", "short", "short", "long", "killed", "killed", "failing", "signalled", "flood", "escaper", "overtime"].map(
  (name) => KINDS.find((k) => k.name === name) as Kind,
);

/** Agents per task: a day is many tasks, and a task may hold only so many agents. */
export const AGENTS_PER_TASK = 200;

export interface Tally {
  lifecycles: number;
  inFlight: number;
  /** Deploys refused because every slot was taken (a slot frees at cleanup, after the end). */
  refusedAtLimit: number;
  /** Ends by kind, runner and status. */
  readonly ends: Record<string, number>;
  /** Ends in a status the kind should not end in, and refusals or failures of a tool. */
  readonly unexpected: Problems;
  readonly errors: Problems;
}

/** How many, and the first few in words. */
export interface Problems {
  count: number;
  readonly examples: string[];
}

const KEEP_EXAMPLES = 20;

export class Churn {
  readonly tally: Tally = { lifecycles: 0, inFlight: 0, refusedAtLimit: 0, ends: {}, unexpected: { count: 0, examples: [] }, errors: { count: 0, examples: [] } };
  private next = 0;
  private stopping = false;
  private broken = false;
  private task: { id: string; used: number } | null = null;
  private rotating: Promise<void> | null = null;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly corral: CorralChild,
    private readonly concurrency: number,
    private readonly floodBytes: number,
  ) {}

  /** The task the next agent goes to, opening a fresh one when the current one is full. */
  get currentTask(): string | null {
    return this.task?.id ?? null;
  }

  start(): void {
    this.workers = Array.from({ length: this.concurrency }, () => this.work());
  }

  /** No new agents, and calls that fail from now on are not errors: corral is going away. */
  halt(): void {
    this.stopping = true;
  }

  /** No new agents; resolves once every worker has seen its last agent to its end. */
  async drain(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers);
  }

  /** Set when a call threw (corral gone, a timeout): the churn then stops. */
  get failed(): boolean {
    return this.broken;
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      const i = this.next;
      this.next += 1;
      try {
        await this.lifecycle(i, CYCLE[i % CYCLE.length] as Kind, Math.floor(i / CYCLE.length) % 2 === 0 ? "process" : "tmux");
      } catch (cause) {
        if (this.stopping) return;
        this.error(`lifecycle ${i}: ${cause instanceof Error ? cause.message : String(cause)}`);
        this.broken = true;
        this.stopping = true;
      }
    }
  }

  private async taskId(): Promise<string> {
    for (;;) {
      if (this.task !== null && this.task.used < AGENTS_PER_TASK) {
        this.task.used += 1;
        return this.task.id;
      }
      this.rotating ??= this.openTask().finally(() => {
        this.rotating = null;
      });
      await this.rotating;
    }
  }

  private async openTask(): Promise<void> {
    const created = await this.corral.call("create_real_task", { description: "soak: churned command agents" });
    if (!created.ok) throw new Error(`create_real_task: ${created.code}: ${created.message}`);
    this.task = { id: String(created.value.task_id), used: 0 };
  }

  private async lifecycle(i: number, kind: Kind, runner: Runner): Promise<void> {
    const taskId = await this.taskId();
    const deployed = await this.deploy(taskId, kind, runner, i);
    if (deployed === null) return;
    const agentId = String(deployed.value.agent_id);
    this.tally.inFlight += 1;
    try {
      const status = kind.killAfterMs === undefined ? await this.awaitEnd(taskId, agentId) : await this.kill(taskId, agentId, kind.killAfterMs(i));
      if (status === null) return;
      this.tally.lifecycles += 1;
      const key = `${kind.name} ${runner} ${status}`;
      this.tally.ends[key] = (this.tally.ends[key] ?? 0) + 1;
      if (!kind.expected.includes(status)) this.example(this.tally.unexpected, `${agentId} (${kind.name}, ${runner}) ended ${status}`);
    } finally {
      this.tally.inFlight -= 1;
    }
  }

  /** The deploy's answer, retried while every slot is taken; null (and counted) on any other refusal. */
  private async deploy(taskId: string, kind: Kind, runner: Runner, i: number): Promise<Extract<ToolAnswer, { ok: true }> | null> {
    for (;;) {
      const answer = await this.corral.call("deploy_headless_agent", {
        task_id: taskId,
        agent_type: `soak-${kind.name}`,
        prompt: "soak",
        command: kind.command(i, this.floodBytes),
        runner,
        ...(kind.maxRuntimeS === undefined ? {} : { max_runtime_s: kind.maxRuntimeS }),
      });
      if (answer.ok) return answer;
      if (answer.code === "LIMIT_GLOBAL_AGENTS" && !this.stopping) {
        this.tally.refusedAtLimit += 1;
        await sleep(20);
        continue;
      }
      if (answer.code !== "LIMIT_GLOBAL_AGENTS") this.error(`deploy ${kind.name} on ${runner}: ${answer.code}: ${answer.message}`);
      return null;
    }
  }

  private async awaitEnd(taskId: string, agentId: string): Promise<string | null> {
    const answer = await this.corral.call("wait_for_agents", { task_id: taskId, agent_ids: [agentId], mode: "any", timeout_s: 300 }, 310_000);
    if (!answer.ok) return this.error(`wait_for_agents ${agentId}: ${answer.code}: ${answer.message}`);
    const agent = (answer.value.agents as { status: string }[] | undefined)?.[0];
    if (answer.value.satisfied !== true || agent === undefined) return this.error(`wait_for_agents ${agentId}: not ended after 300 s`);
    return agent.status;
  }

  private async kill(taskId: string, agentId: string, afterMs: number): Promise<string | null> {
    await sleep(afterMs);
    const answer = await this.corral.call("kill_real_agent", { task_id: taskId, agent_id: agentId, reason: "soak" });
    if (!answer.ok) return this.error(`kill_real_agent ${agentId}: ${answer.code}: ${answer.message}`);
    const cleanup = answer.value.cleanup as { status: string; steps: { step: string; outcome: string; error: string | null }[] };
    if (cleanup.status !== "done") {
      const failing = cleanup.steps.filter((s) => s.error !== null).map((s) => `${s.step}: ${s.error}`);
      this.error(`kill_real_agent ${agentId}: cleanup ${cleanup.status} (${failing.join("; ")})`);
    }
    return String((answer.value.agent as { status: string }).status);
  }

  private error(text: string): null {
    this.example(this.tally.errors, text);
    return null;
  }

  private example(problems: Problems, text: string): void {
    problems.count += 1;
    if (problems.examples.length < KEEP_EXAMPLES) problems.examples.push(text);
  }
}
