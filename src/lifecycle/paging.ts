import { z } from "zod";
import { DEFAULT_PAGE, MAX_PAGE } from "../domain/bounds.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { parseInput } from "./inputs.js";
import type { PageView } from "./views.js";

/** Which rows of a list a reply carries. */
export interface Page {
  readonly offset: number;
  readonly limit: number;
}

/** Every row: for callers inside the process, which have no reply budget to keep. */
export const WHOLE: Page = { offset: 0, limit: Number.MAX_SAFE_INTEGER };

/** The fields of a paged list's query, shared by the service and the tools. */
export const PageFields = {
  cursor: z.string().max(20).describe("page.next of the previous page; omit for the first"),
  limit: z.number().int().min(1).max(MAX_PAGE).describe(`rows per page, default ${DEFAULT_PAGE}, at most ${MAX_PAGE}`),
};

export const PageQuerySchema = z.object({ cursor: PageFields.cursor.optional(), limit: PageFields.limit.optional() }).strict();
export type PageQuery = z.input<typeof PageQuerySchema>;

/**
 * A cursor is the offset of the page's first row. Rows are in creation order and never
 * removed while a task lives, so an offset names the same place on the next call.
 */
export function parsePage(query: PageQuery): Result<Page> {
  const parsed = parseInput(PageQuerySchema, query);
  if (!parsed.ok) return parsed;
  const { cursor, limit = DEFAULT_PAGE } = parsed.value;
  if (cursor === undefined) return ok({ offset: 0, limit });
  if (!/^\d{1,9}$/.test(cursor)) return fail("INVALID_INPUT", `${JSON.stringify(cursor)} is not a cursor this server gave; pass the 'next' of the previous page`, "cursor");
  return ok({ offset: Number(cursor), limit });
}

export function pageView(page: Page, returned: number, total: number): PageView {
  const end = page.offset + returned;
  return { offset: page.offset, returned, total, next: end < total ? String(end) : null };
}
