import { setTimeout as sleep } from "node:timers/promises";
import { isTerminal } from "../domain/agent-state.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";
import type { AgentRecord } from "../store/records.js";
import { ancestry, sameProcess, stillRunning } from "../runners/host.js";
import type { Core } from "./core.js";
import { EventInputSchema, parseAgentId, parseInput, type EventInput } from "./inputs.js";
import { hashToken } from "./tokens.js";

const LAUNCH_RECORD_WAIT_MS = 5000;
const LAUNCH_RECORD_POLL_MS = 10;

/** What an agent's own server does in its name: who it is, and what it reports. */
export class AgentCalls {
  constructor(private readonly core: Core) {}

  /**
   * The agent a token belongs to, for an agent server running as process `caller`: the agent
   * server acts for it alone. A token is a string that can be copied (another agent of the
   * same user can read it from /proc/<pid>/environ), so it is accepted only from inside the
   * agent's own process tree, and only while the agent lives.
   */
  async authenticate(token: string | undefined, caller: number): Promise<Result<AgentRecord>> {
    const { store } = this.core;
    if (token === undefined || token === "") {
      return fail("AUTH_REFUSED", "no CORRAL_AGENT_TOKEN in this server's environment: only an agent launched by corral can use these tools");
    }
    const found = store.agents.byTokenHash(hashToken(token));
    if (found === null) return fail("AUTH_REFUSED", "CORRAL_AGENT_TOKEN matches no agent in this state dir (check CORRAL_HOME)");
    const agent = await this.launchRecorded(found);
    const ended = refuseEnded(agent);
    if (!ended.ok) return ended;
    if (agent.process === null) {
      return fail("AUTH_REFUSED", `agent ${agent.id} has no process on record: its launch did not finish, so nothing can act for it`);
    }
    const root = { pid: agent.process.pid, startTime: agent.process.startTime };
    const otherRoots = new Map<string, AgentId>();
    for (const live of store.agents.live()) {
      if (live.process !== null && live.id !== agent.id) otherRoots.set(`${live.process.pid}:${live.process.startTime}`, live.id);
    }
    // The nearest agent root above the caller decides: a child agent has its parent's root
    // among its ancestors too, and must not act for its parent.
    for (const ancestor of ancestry(caller)) {
      if (sameProcess(ancestor, root)) return ok(agent);
      const other = otherRoots.get(`${ancestor.pid}:${ancestor.startTime}`);
      if (other !== undefined) {
        return fail("AUTH_REFUSED", `this server runs inside agent ${other}, not agent ${agent.id}: an agent can act only for itself, whatever token it holds`);
      }
    }
    return fail(
      "AUTH_REFUSED",
      `this server does not run inside agent ${agent.id}'s processes (root pid ${root.pid}): its token is accepted only from the agent it was issued to`,
    );
  }

  /**
   * The agent, while it lives: for a caller whose right to act for it is settled (a relay
   * socket names it; a token was checked against the process tree once).
   */
  living(id: AgentId): Result<AgentRecord> {
    const agent = this.core.store.agents.get(id);
    if (agent === null) return fail("AUTH_REFUSED", `agent ${id} is not in this state dir`);
    return refuseEnded(agent);
  }

  /** The agent says it is done; it becomes terminal when its process exits. */
  claimDone(id: AgentId): Result<void> {
    return this.core.store.writeNow(() => this.core.store.flags.claimDone(id));
  }

  /** Progress and findings, appended with the agent's and task's counters in one transaction. */
  async report(rawId: string, raw: EventInput): Promise<Result<number>> {
    const { core } = this;
    const usable = core.usable();
    if (!usable.ok) return usable;
    const input = parseInput(EventInputSchema, raw);
    if (!input.ok) return input;
    const id = parseAgentId(rawId);
    const agent = id.ok ? core.store.agents.get(id.value) : null;
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`, "agent_id");
    const event = input.value;
    const appended = await core.writeForCall(() =>
      core.store.events.append({
        taskId: agent.taskId,
        agentId: agent.id,
        kind: event.kind,
        at: Date.now(),
        data: event,
        progress: event.kind === "progress" ? (event.progress ?? null) : null,
        message: event.message,
      }),
    );
    if (!appended.ok) return appended;
    if (appended.value === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`);
    return ok(appended.value);
  }

  /**
   * The row records the agent's process just after the launch; an agent server that starts
   * in that moment waits for it, while the launching corral lives.
   */
  private async launchRecorded(agent: AgentRecord): Promise<AgentRecord> {
    const deadline = performance.now() + LAUNCH_RECORD_WAIT_MS;
    let current = agent;
    while (current.startedAt === null && !isTerminal(current.status) && stillRunning(current.owner) && performance.now() < deadline) {
      await sleep(LAUNCH_RECORD_POLL_MS);
      current = this.core.store.agents.get(agent.id) ?? current;
    }
    return current;
  }
}

function refuseEnded(agent: AgentRecord): Result<AgentRecord> {
  if (!isTerminal(agent.status)) return ok(agent);
  return fail("AUTH_REFUSED", `agent ${agent.id} has ended (${agent.status}): nothing more is accepted in its name`);
}
