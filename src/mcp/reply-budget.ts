/**
 * Fits a reply into a byte budget by clipping what grows without bound — long strings, long
 * lists, wide records — a little more at each level until it fits. Lists that page (status,
 * tasks) page first; this is the floor under every reply, so that no stored value, however it
 * got there, can make a reply larger than a client accepts.
 */

interface ClipLevel {
  /** Characters kept of a string. */
  readonly text: number;
  /** Items kept of an array, and keys of an object. */
  readonly items: number;
}

const LEVELS: readonly ClipLevel[] = [
  { text: 16_384, items: 1_000 },
  { text: 4_096, items: 200 },
  { text: 1_024, items: 50 },
  { text: 256, items: 10 },
  { text: 64, items: 3 },
];

/** A reply that fits, with the JSON it was measured by, to be sent as it is; or how big it was. */
export type Fitted<T> =
  | { readonly fits: true; readonly value: T; readonly clipped: boolean; readonly text: string }
  | { readonly fits: false; readonly bytes: number };

export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "");
}

/**
 * The value as it is when it fits, else the least clipped version that fits, else how big it
 * is. A clipped object says so (`truncated: true`, counted in the budget); each version is
 * serialised once, and the text that fitted is the one sent.
 */
export function fitToBudget<T>(value: T, budget: number): Fitted<T> {
  const text = JSON.stringify(value) ?? "";
  const bytes = Buffer.byteLength(text);
  if (bytes <= budget) return { fits: true, value, clipped: false, text };
  for (const level of LEVELS) {
    const clipped = markTruncated(clip(value, level)) as T;
    const clippedText = JSON.stringify(clipped) ?? "";
    if (Buffer.byteLength(clippedText) <= budget) return { fits: true, value: clipped, clipped: true, text: clippedText };
  }
  return { fits: false, bytes };
}

/** An object that was clipped carries `truncated: true`; a list has nowhere to say it. */
function markTruncated(value: unknown): unknown {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? { ...value, truncated: true } : value;
}

function clip(value: unknown, level: ClipLevel): unknown {
  if (typeof value === "string") {
    return value.length <= level.text ? value : `${value.slice(0, level.text)}…[${value.length - level.text} more characters clipped]`;
  }
  if (Array.isArray(value)) return value.slice(0, level.items).map((item) => clip(item, level));
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    return Object.fromEntries(entries.slice(0, Math.max(level.items, KEEP_KEYS)).map(([key, item]) => [key, clip(item, level)]));
  }
  return value;
}

/**
 * Objects keep at least this many keys: views have a few dozen fixed fields, and dropping
 * one would break the shape a client was promised; only records keyed by data (tool names,
 * free-form finding data) are wider than this.
 */
const KEEP_KEYS = 64;
