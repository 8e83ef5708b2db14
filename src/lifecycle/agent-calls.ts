import { setTimeout as sleep } from "node:timers/promises";
import { isTerminal } from "../domain/agent-state.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";
import type { AgentRecord } from "../store/records.js";
import { ancestry, connectionHolder, sameProcess, stillRunning, type LoopbackPeer } from "../runners/host.js";
import type { Core } from "./core.js";
import { EventInputSchema, parseAgentId, parseInput, type EventInput } from "./inputs.js";
import { hashToken } from "./tokens.js";

const LAUNCH_RECORD_WAIT_MS = 5000;
const LAUNCH_RECORD_POLL_MS = 10;

/** How refusals name a caller: an agent server process, or a connection to corral's endpoint. */
interface CallerWords {
  readonly noToken: string;
  readonly token: string;
  inside(other: AgentId): string;
  outside(agent: AgentId): string;
}

const SERVER_CALLER: CallerWords = {
  noToken: "no CORRAL_AGENT_TOKEN in this server's environment: only an agent launched by corral can use these tools",
  token: "CORRAL_AGENT_TOKEN",
  inside: (other) => `this server runs inside agent ${other}`,
  outside: (agent) => `this server does not run inside agent ${agent}'s processes`,
};

const CONNECTION_CALLER: CallerWords = {
  noToken: "no bearer token: an agent's CLI sends its CORRAL_AGENT_TOKEN as `Authorization: Bearer <token>`",
  token: "the bearer token",
  inside: (other) => `this connection comes from inside agent ${other}`,
  outside: (agent) => `this connection does not come from inside agent ${agent}'s processes`,
};

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
    const agent = await this.byToken(token, SERVER_CALLER);
    if (!agent.ok) return agent;
    return this.actsFor(agent.value, caller, SERVER_CALLER);
  }

  /**
   * The agent a bearer token belongs to, for a loopback connection to this process: the token
   * must be the agent's, and the connection's client end held by a process inside the agent's
   * own tree, whose nearest agent root is the agent's (the rule `authenticate` applies to a
   * server process).
   */
  async authenticateConnection(token: string | undefined, peer: LoopbackPeer): Promise<Result<AgentRecord>> {
    const agent = await this.byToken(token, CONNECTION_CALLER);
    if (!agent.ok) return agent;
    const root = agent.value.process;
    if (root === null) return fail("AUTH_REFUSED", `agent ${agent.value.id} has no process on record: its launch did not finish, so nothing can act for it`);
    const holder = connectionHolder(peer, { pid: root.pid, startTime: root.startTime });
    if (holder.found !== "holder") {
      const why =
        holder.found === "unseen"
          ? `no process of this machine's /proc holds this connection (port ${peer.clientPort})`
          : `${CONNECTION_CALLER.outside(agent.value.id)} (root pid ${root.pid})`;
      return fail("AUTH_REFUSED", `${why}: its token is accepted only from the agent it was issued to`);
    }
    return this.actsFor(agent.value, holder.process.pid, CONNECTION_CALLER);
  }

  /** The living, launched agent whose token this is. */
  private async byToken(token: string | undefined, words: CallerWords): Promise<Result<AgentRecord>> {
    if (token === undefined || token === "") return fail("AUTH_REFUSED", words.noToken);
    const found = this.core.store.agents.byTokenHash(hashToken(token));
    if (found === null) return fail("AUTH_REFUSED", `${words.token} matches no agent in this state dir (check CORRAL_HOME)`);
    const agent = await this.launchRecorded(found);
    const ended = refuseEnded(agent);
    if (!ended.ok) return ended;
    if (agent.process === null) {
      return fail("AUTH_REFUSED", `agent ${agent.id} has no process on record: its launch did not finish, so nothing can act for it`);
    }
    return ok(agent);
  }

  /**
   * Whether process `caller` acts for `agent`: the nearest agent root above it decides, since
   * a child agent may have its parent's root among its ancestors too, and must not act for
   * its parent.
   */
  private actsFor(agent: AgentRecord, caller: number, words: CallerWords): Result<AgentRecord> {
    const root = agent.process;
    if (root === null) return fail("AUTH_REFUSED", `agent ${agent.id} has no process on record`);
    const otherRoots = new Map<string, AgentId>();
    for (const live of this.core.store.agents.live()) {
      if (live.process !== null && live.id !== agent.id) otherRoots.set(`${live.process.pid}:${live.process.startTime}`, live.id);
    }
    for (const ancestor of ancestry(caller)) {
      if (sameProcess(ancestor, { pid: root.pid, startTime: root.startTime })) return ok(agent);
      const other = otherRoots.get(`${ancestor.pid}:${ancestor.startTime}`);
      if (other !== undefined) {
        return fail("AUTH_REFUSED", `${words.inside(other)}, not agent ${agent.id}: an agent can act only for itself, whatever token it holds`);
      }
    }
    return fail("AUTH_REFUSED", `${words.outside(agent.id)} (root pid ${root.pid}): its token is accepted only from the agent it was issued to`);
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
