import { setTimeout as sleep } from "node:timers/promises";
import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentId } from "../domain/ids.js";
import { parseAgentId } from "./inputs.js";
import type { AgentRecord, AgentSummary } from "../store/records.js";
import type { Core } from "./core.js";
import type { Endings } from "./endings.js";
import { agentView, cleanupView } from "./task-status.js";
import type { AgentView, CleanupRecordView } from "./views.js";

const CLEANED_POLL_MS = 20;

export interface KillResult {
  readonly agent: AgentRecord;
  /** The agent as status shows it. */
  readonly view: AgentView;
  /** False when the agent had already ended: nothing was done, the record is the earlier one. */
  readonly killedNow: boolean;
  readonly cleanup: CleanupRecordView;
}

/** Kills on request, and what a caller waits for after one: the agent cleaned, and the record of it. */
export class Termination {
  constructor(
    private readonly core: Core,
    private readonly endings: Endings,
  ) {}

  /** Kills the agent and its live descendants (children first, in parallel) and returns the cleanup record. */
  async kill(rawId: string, reason = "killed by request"): Promise<Result<KillResult>> {
    const { store } = this.core;
    const parsed = parseAgentId(rawId);
    if (!parsed.ok) return parsed;
    const id = parsed.value;
    const agent = store.agents.get(id);
    if (agent === null) return fail("UNKNOWN_AGENT", `no agent ${rawId}`, "agent_id");
    await Promise.all(store.agents.liveChildren(id).map((child) => this.kill(child.id, `parent ${id} was killed`)));
    const outcome = await this.endings.endOrDefer(id, { status: "killed", reason, exit: null });
    if (outcome !== "won" && outcome !== "lost" && !outcome.recordedSince) {
      const { signalled, survivors } = outcome.stopped;
      const verdict = survivors.length === 0 ? "verified gone" : `but ${survivors.join(", ")} survived and are retried at cleanup`;
      return fail(
        outcome.error.code,
        `${id} was stopped (${signalled.length} processes signalled, ${verdict}); its end (killed) is kept in corral's journal and recorded, its cleanup run, as soon as the database takes writes. ${outcome.error.message}`,
      );
    }
    const killedNow = outcome !== "lost";
    if (!killedNow) await this.whenCleaned(id);
    return ok({
      agent: store.agents.get(id) as AgentRecord,
      view: agentView(store.summaries.get(id) as AgentSummary),
      killedNow,
      cleanup: this.cleanupRecord(id),
    });
  }

  /**
   * Resolves once the agent's cleanup has finished (done or partial), whichever process runs
   * it — or, past the timeout, with the record as it stands, so a caller never hangs on a
   * cleanup another process left unfinished.
   */
  async whenCleaned(id: AgentId, timeoutMs = 60_000): Promise<AgentRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.core.inFlight.get(id);
      const agent = this.core.store.agents.get(id);
      if (agent === null) throw new Error(`no agent ${id}`);
      if (agent.cleanupStatus === "done" || agent.cleanupStatus === "partial" || Date.now() > deadline) return agent;
      await sleep(CLEANED_POLL_MS);
    }
  }

  cleanupRecord(id: AgentId): CleanupRecordView {
    const agent = this.core.store.agents.get(id);
    if (agent === null) return { agentId: id, status: "pending", attempts: 0, verifiedBy: null, blindSpots: [], steps: [] };
    return cleanupView(agent, this.core.store.cleanupSteps.forAgent(id));
  }
}
