import { join } from "node:path";
import type { Config } from "../domain/config.js";
import { fail, type Result } from "../domain/errors.js";
import { Store } from "../store/store.js";
import { agentPage } from "./agent-page.js";
import { makeDirs } from "./directories.js";
import type { PageQuery } from "./paging.js";
import type { AgentPageView } from "./reply-views.js";
import { storePresent } from "./store-presence.js";

/**
 * A state dir opened only to read it (`corral ps`): the database and the queries over it, none
 * of the service — no runners, backends, ballast, timers or agents served — so a command that
 * only looks loads and starts a fraction of what Corral.open does. It finds no agent ended
 * and adopts none: what it shows is what the corrals that own the agents recorded.
 */
export class Reader {
  private constructor(private readonly store: Store) {}

  static open(config: Config): Result<Reader> {
    const made = makeDirs(config.home, 0o700);
    if (!made.ok) return fail("DB_UNAVAILABLE", `cannot create the state dir ${config.home}: ${made.error.message}`);
    const dbPath = join(config.home, "corral.db");
    const present = storePresent(config.home, dbPath);
    if (!present.ok) return present;
    const store = Store.open(dbPath);
    return store.ok ? { ok: true, value: new Reader(store.value) } : store;
  }

  agentPage(all: boolean, rawPage: PageQuery): Result<AgentPageView> {
    return agentPage(this.store, all, rawPage);
  }

  close(): void {
    this.store.close();
  }
}
