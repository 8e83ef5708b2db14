/** Terminal output: plain text, coloured only on a terminal and never under NO_COLOR. */
const useColour = (): boolean => process.stdout.isTTY === true && process.env.NO_COLOR === undefined;

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof CODES;

export function paint(text: string, colour: Colour): string {
  return useColour() ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const visible = (cell: string): number => cell.replace(/\u001b\[\d+m/g, "").length;
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(cell))));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visible(cell)))).join("  "))
    .join("\n");
}

/** 5s, 3m, 2h, 4d. */
export function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

export function statusColour(status: string): Colour {
  if (status === "running" || status === "pending") return "yellow";
  if (status === "completed") return "green";
  return "red";
}
