import * as z from "zod";
import { DEFAULT_PAGE, MAX_CURSOR_CHARS, MAX_PAGE } from "../domain/bounds.js";
import { fail, ok, type Result } from "../domain/errors.js";
import { parseInput } from "./inputs.js";
import type { PageView } from "./views.js";

/**
 * Where a row stands in a list: lists are in creation order (tasks newest first), and
 * (created_at, id) orders them totally, so the key of the last row sent names the place the
 * next page starts, whatever rows were added or left the list (an agent leaving `ps`'s live
 * list when it ends) in between.
 */
export interface RowKey {
  readonly createdAt: number;
  readonly id: string;
}

/** Which rows of a list a reply carries: those after `after` (all, when null), `limit` of them. */
export interface Page {
  /** Which list the page is of (`status:<task>`, `tasks`, `agents:live`): a cursor is good for its own list only. */
  readonly list: string;
  readonly after: RowKey | null;
  /** How many rows came before this page, as the previous pages counted them. */
  readonly offset: number;
  readonly limit: number;
}

/** Every row: for callers inside the process, which have no reply budget to keep. */
export const whole = (list: string): Page => ({ list, after: null, offset: 0, limit: Number.MAX_SAFE_INTEGER });

/** The fields of a paged list's query, shared by the service and the tools. */
export const PageFields = {
  cursor: z.string().max(MAX_CURSOR_CHARS).describe("page.next of the previous page, as given; omit for the first page"),
  limit: z.number().int().min(1).max(MAX_PAGE).describe(`rows per page, default ${DEFAULT_PAGE}, at most ${MAX_PAGE}`),
};

export const PageQuerySchema = z.object({ cursor: PageFields.cursor.optional(), limit: PageFields.limit.optional() }).strict();
export type PageQuery = z.input<typeof PageQuerySchema>;

/** The cursor's format; a cursor of another version was made by another corral and is refused as stale. */
const CURSOR_VERSION = 1;
/** What a cursor holds: [version, list, offset, created_at, id] of the last row sent, as base64url JSON. */
const CursorSchema = z.tuple([z.number().int(), z.string().max(200), z.number().int().min(0), z.number().int(), z.string().min(1).max(100)]);

export function encodeCursor(list: string, offset: number, key: RowKey): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, list, offset, key.createdAt, key.id])).toString("base64url");
}

const NOT_OURS = "is not a cursor this server gave; pass page.next of the previous page as it came, or omit cursor for the first page";

/** The cursor's contents, or why it cannot be used for `list`: not one of ours, or one made for another list or by another version. */
export function decodeCursor(cursor: string, list: string): Result<{ offset: number; after: RowKey }> {
  const shown = JSON.stringify(cursor.length > 40 ? `${cursor.slice(0, 40)}…` : cursor);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return fail("INVALID_INPUT", `${shown} ${NOT_OURS}`, "cursor");
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch (error) {
    return fail("INVALID_INPUT", `${shown} ${NOT_OURS} (${error instanceof Error ? error.message : String(error)})`, "cursor");
  }
  const parsed = CursorSchema.safeParse(raw);
  if (!parsed.success) return fail("INVALID_INPUT", `${shown} ${NOT_OURS}`, "cursor");
  const [version, cursorList, offset, createdAt, id] = parsed.data;
  if (version !== CURSOR_VERSION) {
    return fail("INVALID_INPUT", `the cursor is stale: a corral of another version made it; start again without a cursor`, "cursor");
  }
  if (cursorList !== list) {
    return fail("INVALID_INPUT", `the cursor is stale for this list: it pages ${cursorList}, not ${list}; pass the cursor of this list's previous page, or none`, "cursor");
  }
  return ok({ offset, after: { createdAt, id } });
}

/** The page a caller asks for of `list`: the first unless a cursor says where the previous one ended. */
export function parsePage(query: PageQuery, list: string): Result<Page> {
  const parsed = parseInput(PageQuerySchema, query);
  if (!parsed.ok) return parsed;
  const { cursor, limit = DEFAULT_PAGE } = parsed.value;
  if (cursor === undefined) return ok({ list, after: null, offset: 0, limit });
  const decoded = decodeCursor(cursor, list);
  if (!decoded.ok) return decoded;
  return ok({ list, limit, ...decoded.value });
}

/** Where the page stands: its rows' place in the list, the list's length, and the cursor of the next page, null on the last. */
export function pageView(page: Page, rows: readonly RowKey[], total: number): PageView {
  const end = page.offset + rows.length;
  const last = rows.at(-1);
  const more = last !== undefined && rows.length === page.limit && end < total;
  return { offset: page.offset, returned: rows.length, total, next: more ? encodeCursor(page.list, end, last) : null };
}
