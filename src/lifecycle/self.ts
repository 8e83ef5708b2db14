import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The script that starts corral (dist/src/cli/main.js), which agents' CLIs run as their MCP
 * server. Tests import the TypeScript sources, so from src/ the built copy is used; the
 * agent server always runs from the build.
 */
export function corralEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const besideUs = join(here, "..", "cli", "main.js");
  if (existsSync(besideUs)) return besideUs;
  return join(resolve(here, "..", ".."), "dist", "src", "cli", "main.js");
}

/** corral's package dir: its build and its node_modules, which its agent server loads. */
export function corralRoot(): string {
  return resolve(dirname(corralEntry()), "..", "..", "..");
}
