import { describe, expect, it } from "vitest";
import {
  canCleanupMove,
  CLEANUP_MOVES,
  CLEANUP_STATUSES,
  formatCleanupClaim,
  newCleanupClaim,
  parseCleanupClaim,
  type CleanupStatus,
} from "../src/domain/cleanup-state.js";

const allowed = (from: CleanupStatus) => CLEANUP_STATUSES.filter((to) => canCleanupMove(from, to));

describe("cleanup state machine", () => {
  it("leads from pending only to running, by the claim the terminal transition makes", () => {
    expect(allowed("pending")).toEqual(["running"]);
    expect(CLEANUP_MOVES.claim).toEqual({ from: "pending", to: "running", held: "none" });
  });

  it("ends a running cleanup done or partial, and only its claimer may", () => {
    expect(allowed("running")).toEqual(["running", "done", "partial"]);
    expect([CLEANUP_MOVES.done.held, CLEANUP_MOVES.partial.held]).toEqual(["own", "own"]);
  });

  it("hands a running cleanup over only from a dead claimer, and keeps it running", () => {
    expect(CLEANUP_MOVES.takeOver).toEqual({ from: "running", to: "running", held: "stale" });
  });

  it("retries a partial cleanup by claiming it again, and never moves a done one", () => {
    expect(allowed("partial")).toEqual(["running"]);
    expect(CLEANUP_MOVES.retry).toEqual({ from: "partial", to: "running", held: "none" });
    expect(allowed("done")).toEqual([]);
  });

  it("makes only moves the table allows, and has a move for every transition it allows", () => {
    const moves = Object.values(CLEANUP_MOVES);
    for (const move of moves) expect(canCleanupMove(move.from, move.to), `${move.from} → ${move.to}`).toBe(true);
    for (const from of CLEANUP_STATUSES) {
      for (const to of allowed(from)) expect(moves.some((m) => m.from === from && m.to === to), `${from} → ${to}`).toBe(true);
    }
  });

  it("sets a new claim exactly on the moves to running, which no claim holds before", () => {
    for (const move of Object.values(CLEANUP_MOVES)) {
      if (move.to === "running") expect(move.held).not.toBe("own");
      else expect(move.held).toBe("own");
    }
  });
});

describe("cleanup claims", () => {
  it("parses a claim into the claimer's pid and start time and its nonce", () => {
    const parsed = parseCleanupClaim("4242:987654:0a1b2c3d");
    expect(parsed.ok && parsed.value).toEqual({ claimer: { pid: 4242, startTime: "987654" }, nonce: "0a1b2c3d" });
  });

  it("formats a new claim so that it parses back to the same claim", () => {
    const claim = newCleanupClaim({ pid: 17, startTime: "3301" });
    expect(formatCleanupClaim(claim)).toMatch(/^17:3301:[0-9a-f]{8}$/);
    const again = parseCleanupClaim(formatCleanupClaim(claim));
    expect(again.ok && again.value).toEqual(claim);
  });

  it("gives two claims of one process different nonces", () => {
    const claimer = { pid: 17, startTime: "3301" };
    expect(newCleanupClaim(claimer).nonce).not.toBe(newCleanupClaim(claimer).nonce);
  });

  it.each(["", "a", "17", "17:3301", "17:3301:", "0:1:ab", "017:1:ab", "-1:1:ab", "1:x:ab", "1:1:XYZ", "1:1:ab:cd", " 1:1:ab"])(
    "refuses the claim %j",
    (text) => {
      const parsed = parseCleanupClaim(text);
      expect(parsed.ok ? "parsed" : parsed.error.code).toBe("INVALID_INPUT");
    },
  );
});
