import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fail, ok, type Result } from "../domain/errors.js";

/**
 * Whether the database may be opened (made, when it is new): refused when it is missing from
 * a state dir that holds task workspaces, since a new empty database would hide every agent
 * recorded there.
 */
export function storePresent(home: string, dbPath: string): Result<void> {
  const orphaned = workspacesWithoutStore(home, dbPath);
  if (orphaned === 0) return ok(undefined);
  return fail(
    "DB_MISSING",
    `${dbPath} is missing but the state dir holds ${orphaned} task workspaces: the database was deleted or moved, and a new empty one would hide every agent recorded there. Put it back (a corral that saw it go saved a copy as corral.db.rescued-*), or move ${join(home, "workspaces")} aside to start afresh`,
  );
}

/** How many task workspaces a state dir holds when it has no database; 0 when it has one. */
function workspacesWithoutStore(home: string, dbPath: string): number {
  if (existsSync(dbPath)) return 0;
  try {
    return readdirSync(join(home, "workspaces")).length;
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return 0;
    throw cause;
  }
}
