import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE, MAX_PAGE } from "../src/domain/bounds.js";
import { pageView, parsePage } from "../src/lifecycle/paging.js";

/** "allowed", or the refusal's code, the field it names and its message. */
const refusal = (query: Parameters<typeof parsePage>[0]): string => {
  const page = parsePage(query);
  return page.ok ? "allowed" : `${page.error.code} ${page.error.field ?? "(no field)"}: ${page.error.message}`;
};

describe("a page of a list", () => {
  it(`starts at the first row, ${DEFAULT_PAGE} rows long, when the caller names neither`, () => {
    expect(parsePage({})).toEqual({ ok: true, value: { offset: 0, limit: DEFAULT_PAGE } });
  });

  it("starts at the row its cursor names", () => {
    expect(parsePage({ cursor: "250", limit: 50 })).toEqual({ ok: true, value: { offset: 250, limit: 50 } });
  });

  it("takes only a cursor this server gave: digits", () => {
    expect(refusal({ cursor: "-1" })).toBe(`INVALID_INPUT cursor: "-1" is not a cursor this server gave; pass the 'next' of the previous page`);
    expect(refusal({ cursor: "1e3" })).toMatch(/^INVALID_INPUT cursor: "1e3"/);
    expect(refusal({ cursor: "" })).toMatch(/^INVALID_INPUT cursor: /);
  });

  it(`is at most ${MAX_PAGE} rows long, and at least one`, () => {
    expect(refusal({ limit: MAX_PAGE })).toBe("allowed");
    expect(refusal({ limit: MAX_PAGE + 1 })).toMatch(/^INVALID_INPUT limit: /);
    expect(refusal({ limit: 0 })).toMatch(/^INVALID_INPUT limit: /);
  });

  it("refuses a key it does not know", () => {
    expect(refusal({ offset: 3 } as never)).toMatch(/^INVALID_INPUT .*offset/);
  });

  it("tells the caller where the next page starts, and that there is none after the last", () => {
    expect(pageView({ offset: 100, limit: 100 }, 100, 250)).toEqual({ offset: 100, returned: 100, total: 250, next: "200" });
    expect(pageView({ offset: 200, limit: 100 }, 50, 250)).toEqual({ offset: 200, returned: 50, total: 250, next: null });
    expect(pageView({ offset: 0, limit: 100 }, 0, 0).next).toBeNull();
  });
});
