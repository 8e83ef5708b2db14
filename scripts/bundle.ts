import { rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

/**
 * Bundles the CLI over its own compiled entry (dist/src/cli/main.js), so that a command loads a
 * few files instead of some 230 modules: resolving and compiling them one by one was most of
 * a command's start. Each command's lazy import stays a chunk of its own, and the chunks sit
 * beside the entry, at the depth the sources' relative paths (package.json, the package root)
 * were written for.
 *
 * better-sqlite3 stays outside: it loads a native addon from its own directory. The CommonJS
 * packages bundled (commander, pino) call `require` for Node's modules, which an ES module
 * lacks; the banner gives them one.
 */
const root = join(import.meta.dirname, "..", "..");
const cli = join(root, "dist", "src", "cli");

await build({
  entryPoints: [join(cli, "main.js")],
  outdir: cli,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  chunkNames: "[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["better-sqlite3"],
  banner: { js: 'import { createRequire as corralRequire } from "node:module"; const require = corralRequire(import.meta.url);' },
  logLevel: "warning",
  sourcemap: false,
  minifyWhitespace: true,
  minifySyntax: true,
});
// The entry's old source map describes the file it replaced.
rmSync(join(cli, "main.js.map"), { force: true });
