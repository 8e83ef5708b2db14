/**
 * A reply in a few lines, for the text of a tool's answer when the client reads its
 * structured content: the top-level figures (counts, totals, where the page stands) and how
 * many items each list holds, never a second copy of the reply.
 */

const MAX_BRIEF = 2_000;
const MAX_STRING = 160;
const MAX_ENTRIES = 12;

function scalar(value: unknown): string | null {
  if (value === null || typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") return JSON.stringify(value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value);
  return null;
}

function inline(value: unknown): string {
  const plain = scalar(value);
  if (plain !== null) return plain;
  if (Array.isArray(value)) return `${value.length} items`;
  const entries = Object.entries(value as Record<string, unknown>);
  const shown = entries
    .slice(0, MAX_ENTRIES)
    .map(([key, item]) => `${key} ${scalar(item) ?? (Array.isArray(item) ? `${item.length} items` : "{…}")}`);
  return `{${shown.join(", ")}${entries.length > MAX_ENTRIES ? ", …" : ""}}`;
}

export function briefOf(tool: string, value: Record<string, unknown>): string {
  const lines = Object.entries(value).map(([key, item]) => `${key}: ${inline(item)}`);
  const text = `${tool}: the whole answer is its structured content.\n${lines.join("\n")}`;
  return text.length > MAX_BRIEF ? `${text.slice(0, MAX_BRIEF)}…` : text;
}
