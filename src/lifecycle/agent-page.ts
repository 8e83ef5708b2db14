import { ok, type Result } from "../domain/errors.js";
import type { Store } from "../store/store.js";
import { pageView, parsePage, type PageQuery } from "./paging.js";
import type { AgentPageView } from "./reply-views.js";
import { agentView, countsOf, totalsOf } from "./task-status.js";

/** One page of the agents of every task (the live ones unless `all`), after their counts and totals. */
export function agentPage(store: Store, all: boolean, rawPage: PageQuery): Result<AgentPageView> {
  const page = parsePage(rawPage, all ? "agents" : "live agents");
  if (!page.ok) return page;
  const { summaries } = store;
  const tally = summaries.tally(!all);
  const agents = summaries.page(!all, page.value.after, page.value.limit);
  return ok({ counts: countsOf(tally), totals: totalsOf(tally), page: pageView(page.value, agents, tally.total), agents: agents.map(agentView) });
}
