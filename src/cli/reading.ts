import { loadConfig } from "../lifecycle/config-loader.js";
import { Reader } from "../lifecycle/reader.js";
import { die, type Output } from "./exit.js";

/**
 * The state dir opened to read only, for a command that only looks (ps): it loads none of the
 * service Corral.open starts, and is closed when the command is done.
 */
export async function withReader<T>(work: (reader: Reader) => Promise<T> | T, output: Output = {}): Promise<T> {
  const config = loadConfig();
  if (!config.ok) die(config.error, 2, output);
  const reader = Reader.open(config.value);
  if (!reader.ok) die(reader.error, 2, output);
  try {
    return await work(reader.value);
  } finally {
    reader.value.close();
  }
}
