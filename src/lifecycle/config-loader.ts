import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { BACKEND_SECTIONS } from "../backends/registry.js";
import { configFilePath, resolveConfig, type Config } from "../domain/config.js";
import { describeUnknown, fail, type Result } from "../domain/errors.js";
import { stateDirProblem } from "./directories.js";

/** Reads the optional config file and the environment into a validated Config. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Result<Config> {
  const userHome = env.HOME ?? homedir();
  const path = configFilePath(env, userHome);
  let file: Record<string, unknown> | null = null;
  if (existsSync(path)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        return fail("CONFIG_INVALID", `${path} must hold a JSON object`);
      }
      file = parsed as Record<string, unknown>;
    } catch (cause) {
      return fail("CONFIG_INVALID", `cannot read ${path}: ${describeUnknown(cause)}`);
    }
  } else if (env.CORRAL_CONFIG !== undefined) {
    return fail("CONFIG_INVALID", `CORRAL_CONFIG names ${path}, which does not exist`);
  }
  const config = resolveConfig(env, file, userHome, BACKEND_SECTIONS);
  if (!config.ok) return config;
  const problem = stateDirProblem(config.value.home);
  if (problem === null) return config;
  const from = env.CORRAL_HOME !== undefined && env.CORRAL_HOME !== "" ? "CORRAL_HOME" : file?.home !== undefined ? `home in ${path}` : "the state dir (~/.corral)";
  return fail("CONFIG_INVALID", `invalid configuration: ${from}: ${problem}`);
}
