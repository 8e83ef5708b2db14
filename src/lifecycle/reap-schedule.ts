import type { AgentId } from "../domain/ids.js";

/** A running agent this corral owns, as the reaper keeps it between looks. */
export interface ReapMember {
  readonly id: AgentId;
  readonly taskId: string;
  readonly logPath: string;
}

/**
 * The reaper's due-list: the running agents a corral owns, each with when it must be looked at
 * again (see nextLook). A round reads and judges only the agents that are due; the others cost
 * nothing. The members are read again from the database only when something in it changed
 * since the last round (the store's change mark): an agent deployed or adopted, one ended.
 * A new member is due at once.
 */
export class ReapSchedule {
  private readonly members = new Map<AgentId, ReapMember>();
  private readonly dueAt = new Map<AgentId, number>();
  private mark: string | null = null;

  /** Brings the members in line with the rows, read by `read` only when `mark` moved. */
  sync(mark: string, read: () => readonly ReapMember[]): void {
    if (mark === this.mark) return;
    this.mark = mark;
    const current = read();
    const ids = new Set(current.map((member) => member.id));
    for (const id of this.members.keys()) if (!ids.has(id)) this.drop(id);
    for (const member of current) {
      if (!this.members.has(member.id)) this.dueAt.set(member.id, Number.NEGATIVE_INFINITY);
      this.members.set(member.id, member);
    }
  }

  /** The members due at `now`. */
  due(now: number): AgentId[] {
    const due: AgentId[] = [];
    for (const [id, at] of this.dueAt) if (at <= now) due.push(id);
    return due;
  }

  later(id: AgentId, at: number): void {
    if (this.members.has(id)) this.dueAt.set(id, at);
  }

  drop(id: AgentId): void {
    this.members.delete(id);
    this.dueAt.delete(id);
  }

  all(): IterableIterator<ReapMember> {
    return this.members.values();
  }
}
