import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "../domain/config.js";
import type { AgentId, TaskId } from "../domain/ids.js";
import { resolveInside } from "../domain/paths.js";
import type { ArchivedAgent } from "../store/outcomes.js";
import type { Store } from "../store/store.js";
import { removeEmptyDirs } from "./empty-dirs.js";
import { statOrNull } from "./file-stat.js";
import type { Workspaces } from "./workspace.js";

export type ArchiveDeletion = "expired" | "task budget" | "disk budget";

export interface GcReport {
  readonly dryRun: boolean;
  readonly archivesDeleted: { agentId: AgentId; taskId: TaskId; bytes: number; reason: ArchiveDeletion }[];
  readonly tempRemoved: { path: string; bytes: number }[];
  /** Agents' CLI transcripts, removed with their archives. */
  readonly transcriptsDeleted: { agentId: AgentId; path: string; bytes: number }[];
  readonly bytesFreed: number;
  /** Logs and archives per task, after gc. */
  readonly usage: { totalBytes: number; tasks: Record<string, number> };
}

const DAY_MS = 86_400_000;
const MB = 1024 * 1024;

/** Bytes under a path, files and dirs alike. */
function sizeOf(path: string): number {
  const stat = statOrNull(path);
  if (stat === null) return 0;
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

/**
 * Retention and disk budgets: deletes archives older than retentionDays, then the oldest
 * archives of any task over taskDiskBudgetMb, then the oldest overall while the whole is over
 * diskBudgetMb; and removes temp files (agent dirs, half-written archives) older than a day
 * that belong to no live agent. Live logs are never touched. With dryRun nothing is deleted.
 */
export function collectGarbage(
  store: Store,
  workspaces: Workspaces,
  config: Config,
  dryRun: boolean,
  transcriptFiles: (path: string) => readonly string[],
  now = Date.now(),
): GcReport {
  const archivesDeleted: GcReport["archivesDeleted"] = [];
  const tempRemoved: GcReport["tempRemoved"] = [];
  const tasks: Record<string, number> = {};
  const add = (taskId: string, bytes: number): void => {
    tasks[taskId] = (tasks[taskId] ?? 0) + bytes;
  };

  for (const task of list(workspaces.root)) {
    for (const log of list(join(workspaces.root, task, "logs"))) add(task, sizeOf(join(workspaces.root, task, "logs", log)));
  }
  const transcriptsDeleted: GcReport["transcriptsDeleted"] = [];
  const removeTranscript = (agent: ArchivedAgent): void => {
    if (agent.transcriptPath === null) return;
    const files = transcriptFiles(agent.transcriptPath);
    transcriptsDeleted.push({ agentId: agent.id, path: agent.transcriptPath, bytes: files.reduce((sum, f) => sum + sizeOf(f), 0) });
    if (dryRun) return;
    for (const file of files) rmSync(file, { recursive: true, force: true });
    // A project dir of transcripts goes when its last transcript has.
    removeEmptyDirs(dirname(agent.transcriptPath));
    store.outcomes.setTranscript(agent.id, null);
  };
  const archives = store.outcomes.archived().flatMap((a) => {
    const stat = statOrNull(a.path);
    if (stat === null) {
      if (!dryRun) store.outcomes.setArchive(a.id, null);
      removeTranscript(a);
      return [];
    }
    add(a.taskId, stat.size);
    return [{ ...a, bytes: stat.size }];
  });

  const remove = (archive: (typeof archives)[number], reason: ArchiveDeletion): void => {
    archivesDeleted.push({ agentId: archive.id, taskId: archive.taskId, bytes: archive.bytes, reason });
    add(archive.taskId, -archive.bytes);
    if (dryRun) return;
    const inside = resolveInside(workspaces.root, archive.path);
    if (!inside.ok) return;
    rmSync(inside.value, { force: true });
    store.outcomes.setArchive(archive.id, null);
  };
  const removeWithTranscript = (archive: (typeof archives)[number], reason: ArchiveDeletion): void => {
    remove(archive, reason);
    removeTranscript(archive);
  };
  const kept = new Set(archives);
  const expiredBefore = now - config.retentionDays * DAY_MS;
  for (const archive of archives) {
    if ((archive.endedAt ?? 0) < expiredBefore) {
      removeWithTranscript(archive, "expired");
      kept.delete(archive);
    }
  }
  for (const archive of [...kept]) {
    if ((tasks[archive.taskId] ?? 0) <= config.taskDiskBudgetMb * MB) continue;
    removeWithTranscript(archive, "task budget");
    kept.delete(archive);
  }
  const total = (): number => Object.values(tasks).reduce((sum, bytes) => sum + bytes, 0);
  for (const archive of [...kept]) {
    if (total() <= config.diskBudgetMb * MB) break;
    removeWithTranscript(archive, "disk budget");
    kept.delete(archive);
  }

  const live = store.agents.liveIds();
  const staleBefore = now - DAY_MS;
  for (const task of list(workspaces.root)) {
    const candidates = [
      ...list(join(workspaces.root, task, "agents"))
        .filter((id) => !live.has(id))
        .map((id) => join(workspaces.root, task, "agents", id)),
      ...list(join(workspaces.root, task, "archive"))
        .filter((name) => name.endsWith(".partial"))
        .map((name) => join(workspaces.root, task, "archive", name)),
    ];
    for (const path of candidates) {
      const stat = statOrNull(path);
      if (stat === null || stat.mtimeMs >= staleBefore) continue;
      tempRemoved.push({ path, bytes: sizeOf(path) });
      if (!dryRun) rmSync(path, { recursive: true, force: true });
    }
  }

  const bytesFreed = [...archivesDeleted, ...tempRemoved, ...transcriptsDeleted].reduce((sum, item) => sum + item.bytes, 0);
  return { dryRun, archivesDeleted, tempRemoved, transcriptsDeleted, bytesFreed, usage: { totalBytes: total(), tasks } };
}
