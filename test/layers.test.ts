import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "..", "src");

/** Every TypeScript source under `dir`, as paths relative to src/. */
function sources(dir: string): string[] {
  return readdirSync(join(SRC, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => relative(SRC, join(entry.parentPath, entry.name)));
}

/** What a module's text imports or re-exports, statically, for its side effects or dynamically. */
function specifiersIn(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm)].map((m) => m[1] as string);
}

/** The modules of src/ a source imports, as paths relative to src/. */
function importsOf(source: string): string[] {
  const relativeOnes = specifiersIn(readFileSync(join(SRC, source), "utf8")).filter((s) => s.startsWith("."));
  return relativeOnes.map((s) => relative(SRC, resolve(SRC, dirname(source), s)));
}

describe("the layers", () => {
  it("nothing in lifecycle, mcp or cli imports the supervisor: host facts and agents' processes go through runners", () => {
    const above = ["lifecycle", "mcp", "cli"].flatMap(sources);
    expect(above.length).toBeGreaterThan(20);
    const crossings = above.flatMap((source) => importsOf(source).filter((target) => target.startsWith("supervisor/")).map((target) => `${source} → ${target}`));
    expect(crossings).toEqual([]);
  });

  it("the import reader sees every form an import takes, so the rule above can fail", () => {
    const text = [
      'import { a } from "../supervisor/a.js";',
      'import type { B } from "../supervisor/b.js";',
      "import {\n  c,\n  d,\n} from '../supervisor/c.js';",
      'export { e } from "../supervisor/e.js";',
      'import "../supervisor/f.js";',
      'const g = await import("../supervisor/g.js");',
      'const text = "imports nothing from here";',
    ].join("\n");
    expect(specifiersIn(text)).toEqual(["a", "b", "c", "e", "f", "g"].map((name) => `../supervisor/${name}.js`));
  });

  it("no module blocks the event loop with Atomics.wait", () => {
    const blocking = sources(".").filter((source) => readFileSync(join(SRC, source), "utf8").includes("Atomics.wait"));
    expect(blocking).toEqual([]);
  });
});
