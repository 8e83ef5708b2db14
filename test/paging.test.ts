import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE, MAX_CURSOR_CHARS, MAX_PAGE } from "../src/domain/bounds.js";
import { encodeCursor, pageView, parsePage, type Page, type RowKey } from "../src/lifecycle/paging.js";

const LIST = "status:t-000000-000000";

/** "allowed", or the refusal's code, the field it names and its message. */
const refusal = (query: Parameters<typeof parsePage>[0], list = LIST): string => {
  const page = parsePage(query, list);
  return page.ok ? "allowed" : `${page.error.code} ${page.error.field ?? "(no field)"}: ${page.error.message}`;
};

const rows = (from: number, count: number): RowKey[] => Array.from({ length: count }, (_, i) => ({ createdAt: 1_000 + from + i, id: `a-${from + i}` }));

const first = (limit: number, list = LIST): Page => ({ list, after: null, offset: 0, limit });

describe("a page of a list", () => {
  it(`starts at the first row, ${DEFAULT_PAGE} rows long, when the caller names neither`, () => {
    expect(parsePage({}, LIST)).toEqual({ ok: true, value: first(DEFAULT_PAGE) });
  });

  it("starts after the last row of the page whose next the caller passes back: a cursor round trip", () => {
    const view = pageView(first(2), rows(0, 2), 5);
    expect(view).toMatchObject({ offset: 0, returned: 2, total: 5 });
    const next = parsePage({ cursor: view.next as string, limit: 2 }, LIST);
    expect(next).toEqual({ ok: true, value: { list: LIST, after: { createdAt: 1_001, id: "a-1" }, offset: 2, limit: 2 } });
  });

  it("has no next after the last page, nor after a page shorter than asked for", () => {
    expect(pageView({ ...first(2), offset: 4 }, rows(4, 1), 5).next).toBeNull();
    expect(pageView({ ...first(2), offset: 3 }, rows(3, 2), 5).next).toBeNull();
    expect(pageView(first(100), [], 0)).toEqual({ offset: 0, returned: 0, total: 0, next: null });
  });

  it("gives a cursor that names nothing of the row but its place, in URL-safe characters, well within the bound", () => {
    const cursor = encodeCursor(LIST, 400, { createdAt: Date.now(), id: `agent-type-with-a-long-name-${"x".repeat(60)}` });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor.length).toBeLessThan(MAX_CURSOR_CHARS);
  });

  it("refuses a cursor it did not make, naming the field", () => {
    for (const cursor of ["-1", "250", "../x", "", Buffer.from("[1]").toString("base64url"), Buffer.from("{not json").toString("base64url")]) {
      expect(refusal({ cursor })).toMatch(/^INVALID_INPUT cursor: .*is not a cursor this server gave/);
    }
    expect(refusal({ cursor: "x".repeat(MAX_CURSOR_CHARS + 1) })).toMatch(/^INVALID_INPUT cursor: /);
  });

  it("refuses as stale a cursor of another list, or of another version", () => {
    const other = encodeCursor("status:t-000000-ffffff", 100, { createdAt: 1, id: "a" });
    expect(refusal({ cursor: other })).toBe(
      `INVALID_INPUT cursor: the cursor is stale for this list: it pages status:t-000000-ffffff, not ${LIST}; pass the cursor of this list's previous page, or none`,
    );
    const older = Buffer.from(JSON.stringify([0, LIST, 100, 1, "a"])).toString("base64url");
    expect(refusal({ cursor: older })).toMatch(/^INVALID_INPUT cursor: the cursor is stale: a corral of another version made it/);
  });

  it(`is at most ${MAX_PAGE} rows long, and at least one`, () => {
    expect(refusal({ limit: MAX_PAGE })).toBe("allowed");
    expect(refusal({ limit: MAX_PAGE + 1 })).toMatch(/^INVALID_INPUT limit: /);
    expect(refusal({ limit: 0 })).toMatch(/^INVALID_INPUT limit: /);
    expect(refusal({ limit: 2.5 })).toMatch(/^INVALID_INPUT limit: /);
  });

  it("refuses a key it does not know", () => {
    expect(refusal({ offset: 3 } as never)).toMatch(/^INVALID_INPUT .*offset/);
  });
});
