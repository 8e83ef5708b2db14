import { randomBytes } from "node:crypto";
import { fail, ok, type Result } from "./errors.js";

/**
 * The cleanup state machine. Cleanup runs once per agent after its terminal transition:
 * pending until claimed, running while one process holds the claim, then done, or partial
 * when a step failed and must be retried. One table says which transitions exist; the store
 * makes each named move below as a conditional UPDATE, so exactly one caller wins it.
 */
export const CLEANUP_STATUSES = ["pending", "running", "done", "partial"] as const;
export type CleanupStatus = (typeof CLEANUP_STATUSES)[number];

const TRANSITIONS: Readonly<Record<CleanupStatus, readonly CleanupStatus[]>> = {
  pending: ["running"],
  // running → running is a takeover: the status stays, the claim changes hands.
  running: ["running", "done", "partial"],
  partial: ["running"],
  done: [],
};

export function canCleanupMove(from: CleanupStatus, to: CleanupStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * What the row's claim must be for a move: none held, one held by a claimer found dead, or
 * the caller's own.
 */
export type ClaimHeld = "none" | "stale" | "own";

export interface CleanupMove {
  readonly from: CleanupStatus;
  readonly to: CleanupStatus;
  readonly held: ClaimHeld;
}

/** Every way a cleanup is claimed, changes hands or ends; a move to running sets a new claim. */
export const CLEANUP_MOVES = {
  /** The agent's terminal transition claims its cleanup for the one caller that wins it. */
  claim: { from: "pending", to: "running", held: "none" },
  /** A claimer that died mid-way leaves its cleanup to the first live corral that finds it. */
  takeOver: { from: "running", to: "running", held: "stale" },
  /** The claimer's outcome: every step ok… */
  done: { from: "running", to: "done", held: "own" },
  /** …or a step failed, to be retried. */
  partial: { from: "running", to: "partial", held: "own" },
  /** A partial cleanup is claimed again, and only its failed steps run. */
  retry: { from: "partial", to: "running", held: "none" },
} as const satisfies Record<string, CleanupMove>;

/** How the claimer ends a cleanup. */
export type CleanupOutcome = (typeof CLEANUP_MOVES)["done" | "partial"]["to"];

declare const claimBrand: unique symbol;

/**
 * Who holds a cleanup: the corral process (pid and start time, so a reused pid is not taken
 * for it) and a nonce that tells apart two claims of the same process. Stored as
 * `pid:starttime:nonce`; parsed when read, formatted when written.
 */
export interface CleanupClaim {
  readonly claimer: { readonly pid: number; readonly startTime: string };
  readonly nonce: string;
  readonly [claimBrand]: true;
}

const CLAIM_PATTERN = /^([1-9]\d*):(\d+):([0-9a-f]+)$/;

/** A new claim of `claimer`, a process identity read from /proc (so it formats to a parsable claim). */
export function newCleanupClaim(claimer: { readonly pid: number; readonly startTime: string }): CleanupClaim {
  return { claimer: { pid: claimer.pid, startTime: claimer.startTime }, nonce: randomBytes(4).toString("hex") } as CleanupClaim;
}

export function parseCleanupClaim(text: string): Result<CleanupClaim> {
  const match = CLAIM_PATTERN.exec(text);
  if (match === null) return fail("INVALID_INPUT", `a cleanup claim looks like <pid>:<start time>:<hex nonce>, not ${JSON.stringify(text)}`);
  const [, pid, startTime, nonce] = match as unknown as [string, string, string, string];
  return ok({ claimer: { pid: Number(pid), startTime }, nonce } as CleanupClaim);
}

export function formatCleanupClaim(claim: CleanupClaim): string {
  return `${claim.claimer.pid}:${claim.claimer.startTime}:${claim.nonce}`;
}
