import type { AgentId } from "../domain/ids.js";
import type { Db } from "./database.js";
import { AgentRowSchema, type AgentRecord } from "./records.js";
import { LIVE, literal } from "./sql.js";

/** A corral process, as an agent row names its owner. */
export interface Owner {
  readonly pid: number;
  readonly startTime: string;
}

/**
 * Which corral process owns each live agent, and adoption: the owner changed by a conditional
 * UPDATE, so of two corrals adopting the same orphan exactly one wins.
 */
export class Ownership {
  private readonly liveOwnedStmt;
  private readonly liveOwnersStmt;
  private readonly runningOwnedStmt;
  private readonly toolsUrlsStmt;
  private readonly adoptStmt;

  constructor(db: Db) {
    this.liveOwnedStmt = db.prepare(`SELECT * FROM agents WHERE owner_pid = ? AND owner_start = ? AND status IN ${LIVE} ORDER BY created_at`);
    this.liveOwnersStmt = db.prepare(
      `SELECT owner_pid AS pid, owner_start AS startTime FROM agents WHERE status IN ${LIVE} GROUP BY owner_pid, owner_start`,
    );
    this.runningOwnedStmt = db.prepare(
      `SELECT id, task_id AS taskId, log_path AS logPath FROM agents WHERE owner_pid = ? AND owner_start = ? AND status = ${literal("running")}`,
    );
    this.toolsUrlsStmt = db.prepare(
      `SELECT id, tools_url AS toolsUrl FROM agents WHERE owner_pid = ? AND owner_start = ? AND status IN ${LIVE} AND tools_url IS NOT NULL`,
    );
    this.adoptStmt = db.prepare(
      `UPDATE agents SET owner_pid = @toPid, owner_start = @toStart
       WHERE id = @id AND owner_pid = @fromPid AND owner_start = @fromStart AND status IN ${LIVE}`,
    );
  }

  liveOwnedBy(owner: Owner): AgentRecord[] {
    return this.liveOwnedStmt.all(owner.pid, owner.startTime).map((row) => AgentRowSchema.parse(row));
  }

  /** The running agents of `owner`: their ids, tasks and logs only, no row parsed. */
  runningOwnedBy(owner: Owner): { id: AgentId; taskId: string; logPath: string }[] {
    return this.runningOwnedStmt.all(owner.pid, owner.startTime) as { id: AgentId; taskId: string; logPath: string }[];
  }

  /** The live agents of `owner` that call their tools over HTTP, and where: no row parsed. */
  toolsUrlsOf(owner: Owner): { id: AgentId; toolsUrl: string }[] {
    return this.toolsUrlsStmt.all(owner.pid, owner.startTime) as { id: AgentId; toolsUrl: string }[];
  }

  /** The corral processes that own a live agent, each once: whose liveness reconcile asks. */
  liveOwners(): Owner[] {
    return (this.liveOwnersStmt.all() as { pid: number; startTime: string }[]).map(({ pid, startTime }) => ({ pid, startTime }));
  }

  /** Makes `to` the owner of a live agent still owned by `from`; true for exactly one caller. */
  adopt(id: AgentId, from: Owner, to: Owner): boolean {
    return (
      this.adoptStmt.run({ id, fromPid: from.pid, fromStart: from.startTime, toPid: to.pid, toStart: to.startTime }).changes === 1
    );
  }
}
