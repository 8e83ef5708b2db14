import type { RunnerKind } from "../domain/config.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { AgentId, AgentType, TaskId } from "../domain/ids.js";
import { checkDeploy, type Limits } from "../domain/limits.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";
import { AgentRowSchema, type AgentRecord } from "./records.js";
import { LIVE } from "./sql.js";

export interface NewAgent {
  readonly id: AgentId;
  readonly taskId: TaskId;
  readonly type: AgentType;
  readonly parentId: AgentId | null;
  readonly backend: string;
  readonly runner: RunnerKind;
  readonly prompt: string;
  readonly spec: Record<string, unknown>;
  readonly cwd: string;
  readonly agentDir: string;
  readonly logPath: string;
  readonly mark: string;
  /** sha256 of the agent server's token; null for agents that get none. */
  readonly tokenHash: string | null;
  /** Where the agent calls its tools over HTTP (see AgentEndpoints), or null. */
  readonly toolsUrl: string | null;
  readonly owner: { readonly pid: number; readonly startTime: string };
  readonly createdAt: number;
}

/**
 * Agent rows: one inserted under the deploy limits, taking a slot, the slot given back, and
 * full rows read by id, task, parent or token.
 */
export class AgentTable {
  private readonly getStmt;
  private readonly byTaskStmt;
  private readonly liveChildrenStmt;
  private readonly liveStmt;
  private readonly liveIdsStmt;
  private readonly byTokenStmt;
  private readonly activeStmt;
  private readonly insertTx;
  private readonly releaseTx;

  constructor(db: Db, guard: WriteGuard) {
    this.getStmt = db.prepare(`SELECT * FROM agents WHERE id = ?`);
    this.byTaskStmt = db.prepare(`SELECT * FROM agents WHERE task_id = ? ORDER BY created_at, id`);
    this.liveChildrenStmt = db.prepare(`SELECT * FROM agents WHERE parent_id = ? AND status IN ${LIVE}`);
    this.liveStmt = db.prepare(`SELECT * FROM agents WHERE status IN ${LIVE} ORDER BY created_at`);
    this.liveIdsStmt = db.prepare(`SELECT id FROM agents WHERE status IN ${LIVE}`).pluck();
    this.byTokenStmt = db.prepare(`SELECT * FROM agents WHERE token_hash = ?`);

    const taskStmt = db.prepare(`SELECT agent_count FROM tasks WHERE id = ?`);
    const parentStmt = db.prepare(`SELECT depth, status FROM agents WHERE id = ? AND task_id = ?`);
    const childCountStmt = db.prepare(`SELECT COUNT(*) AS n FROM agents WHERE parent_id = ?`);
    const activeStmt = db.prepare(`SELECT COUNT(*) AS n FROM agents WHERE slot_held = 1`);
    this.activeStmt = activeStmt;
    const insertStmt = db.prepare(
      `INSERT INTO agents (id, task_id, type, parent_id, depth, status, backend, runner, prompt, spec, cwd,
         agent_dir, log_path, mark, token_hash, tools_url, owner_pid, owner_start, created_at)
       VALUES (@id, @taskId, @type, @parentId, @depth, 'pending', @backend, @runner, @prompt, @spec, @cwd,
         @agentDir, @logPath, @mark, @tokenHash, @toolsUrl, @ownerPid, @ownerStart, @createdAt)`,
    );
    const bumpTask = db.prepare(
      `UPDATE tasks SET agent_count = agent_count + 1, active_count = active_count + 1 WHERE id = ?`,
    );
    // Limits are read and the row written under one write lock: two deploys racing for the
    // last slot cannot both see it free.
    const insert = db.transaction((agent: NewAgent, limits: Limits): Result<number> => {
      const task = taskStmt.get(agent.taskId) as { agent_count: number } | undefined;
      if (task === undefined) return fail("UNKNOWN_TASK", `no task ${agent.taskId}`, "task_id");
      let parent = null;
      if (agent.parentId !== null) {
        const row = parentStmt.get(agent.parentId, agent.taskId) as { depth: number; status: string } | undefined;
        if (row === undefined) return fail("UNKNOWN_AGENT", `no agent ${agent.parentId} in task ${agent.taskId}`, "parent_id");
        const children = (childCountStmt.get(agent.parentId) as { n: number }).n;
        parent = { depth: row.depth, children, live: row.status === "pending" || row.status === "running" };
      }
      const activeAgents = (activeStmt.get() as { n: number }).n;
      const allowed = checkDeploy({ activeAgents, taskAgents: task.agent_count, parent }, limits);
      if (!allowed.ok) return allowed;
      insertStmt.run({
        ...agent,
        spec: JSON.stringify(agent.spec),
        depth: allowed.value.depth,
        ownerPid: agent.owner.pid,
        ownerStart: agent.owner.startTime,
      });
      bumpTask.run(agent.taskId);
      return ok(allowed.value.depth);
    });
    this.insertTx = (agent: NewAgent, limits: Limits) => insert.immediate(agent, limits);

    const dropSlot = db.prepare(`UPDATE agents SET slot_held = 0 WHERE id = ? AND slot_held = 1`);
    const dropTaskSlot = db.prepare(
      `UPDATE tasks SET active_count = active_count - 1 WHERE id = (SELECT task_id FROM agents WHERE id = ?)`,
    );
    const release = db.transaction((id: AgentId): boolean => {
      if (dropSlot.run(id).changes !== 1) return false;
      dropTaskSlot.run(id);
      return true;
    });
    this.releaseTx = (id: AgentId) => guard(() => release.immediate(id));
  }

  /** Checks the limits and inserts the pending agent in one transaction. */
  insert(agent: NewAgent, limits: Limits): Result<AgentRecord> {
    const inserted = this.insertTx(agent, limits);
    if (!inserted.ok) return inserted;
    return ok(this.get(agent.id) as AgentRecord);
  }

  get(id: AgentId): AgentRecord | null {
    const row = this.getStmt.get(id);
    return row === undefined ? null : AgentRowSchema.parse(row);
  }

  forTask(taskId: TaskId): AgentRecord[] {
    return this.byTaskStmt.all(taskId).map((row) => AgentRowSchema.parse(row));
  }

  liveChildren(id: AgentId): AgentRecord[] {
    return this.liveChildrenStmt.all(id).map((row) => AgentRowSchema.parse(row));
  }

  /** Every agent not yet ended, whoever owns it. */
  live(): AgentRecord[] {
    return this.liveStmt.all().map((row) => AgentRowSchema.parse(row));
  }

  liveIds(): Set<string> {
    return new Set(this.liveIdsStmt.all() as string[]);
  }

  byTokenHash(hash: string): AgentRecord | null {
    const row = this.byTokenStmt.get(hash);
    return row === undefined ? null : AgentRowSchema.parse(row);
  }

  /** True only for the one call that actually gave the slot back. */
  releaseSlot(id: AgentId): boolean {
    return this.releaseTx(id);
  }

  countHoldingSlots(): number {
    return (this.activeStmt.get() as { n: number }).n;
  }
}
