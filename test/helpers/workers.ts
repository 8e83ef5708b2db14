import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const WORKERS = join(import.meta.dirname, "..", "..", "dist", "test", "fixtures", "workers");

/** Runs a compiled worker in a separate OS process and parses the JSON line it prints. */
export async function runWorker<T>(name: string, args: string[]): Promise<T> {
  const { stdout } = await run(process.execPath, [join(WORKERS, `${name}.js`), ...args], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}
