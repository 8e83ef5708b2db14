import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ok, type Result } from "../domain/errors.js";
import type { AgentId, TaskId } from "../domain/ids.js";
import { resolveInside } from "../domain/paths.js";

export interface AgentPaths {
  /** Private dir for the agent's temp files (prompt, generated configs); removed at cleanup. */
  readonly dir: string;
  /** Where the agent's stdout and stderr go while it runs. */
  readonly log: string;
  /** Where the log is kept, compressed, once the agent is cleaned. */
  readonly archive: string;
}

/**
 * The on-disk layout under the state dir. Every path is resolved and checked to stay inside
 * the task's workspace; directories are 0700 and files 0600.
 */
export class Workspaces {
  readonly root: string;
  /** Contained agents' relay dirs (see Relays), apart from the workspaces to keep socket paths short. */
  readonly relayRoot: string;

  constructor(home: string) {
    this.root = join(home, "workspaces");
    this.relayRoot = join(home, "relay");
  }

  /** The agent's relay dir; an id is a plain name, so it stays inside the relay root. */
  relayDir(agentId: AgentId): string {
    return join(this.relayRoot, agentId);
  }

  /** Removes an agent's relay dir, if it had one; the path is checked to stay in the relay root. */
  removeRelayDir(agentId: AgentId): Result<void> {
    const inside = resolveInside(this.relayRoot, agentId);
    if (!inside.ok) return inside;
    rmSync(inside.value, { recursive: true, force: true });
    return ok(undefined);
  }

  createTask(taskId: TaskId): Result<string> {
    const dir = resolveInside(this.root, taskId);
    if (!dir.ok) return dir;
    for (const sub of ["", "agents", "logs", "archive"]) mkdirSync(join(dir.value, sub), { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Removes a task's fresh workspace when its row could not be written: nothing refers to it. */
  removeTask(taskId: TaskId): void {
    const dir = resolveInside(this.root, taskId);
    if (dir.ok) rmSync(dir.value, { recursive: true, force: true });
  }

  agentPaths(taskId: TaskId, agentId: AgentId): Result<AgentPaths> {
    const task = resolveInside(this.root, taskId);
    if (!task.ok) return task;
    const dir = resolveInside(task.value, join("agents", agentId));
    const log = resolveInside(task.value, join("logs", `${agentId}.log`));
    const archive = resolveInside(task.value, join("archive", `${agentId}.log.gz`));
    if (!dir.ok) return dir;
    if (!log.ok) return log;
    if (!archive.ok) return archive;
    return ok({ dir: dir.value, log: log.value, archive: archive.value });
  }

  /** Creates the agent's private dir with the given sub-dirs, and writes the files into it. */
  writeAgentFiles(dir: string, dirs: readonly string[], files: Readonly<Record<string, string>>): Result<void> {
    mkdirSync(dir, { mode: 0o700 });
    for (const sub of dirs) {
      const path = resolveInside(dir, sub);
      if (!path.ok) return path;
      mkdirSync(path.value, { recursive: true, mode: 0o700 });
    }
    for (const [name, content] of Object.entries(files)) {
      const path = resolveInside(dir, name);
      if (!path.ok) return path;
      writeFileSync(path.value, content, { mode: 0o600, flag: "wx" });
    }
    return ok(undefined);
  }

  /** Removes an agent's private dir; the path is checked again so a bad row cannot aim it elsewhere. */
  removeAgentDir(taskId: TaskId, dir: string): Result<void> {
    const task = resolveInside(this.root, taskId);
    if (!task.ok) return task;
    const inside = resolveInside(join(task.value, "agents"), dir);
    if (!inside.ok) return inside;
    rmSync(inside.value, { recursive: true, force: true });
    return ok(undefined);
  }
}
