import { readFileSync } from "node:fs";

/** corral's version, from its package.json; the CLI always runs from the build, dist/src/cli/. */
export const VERSION = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
