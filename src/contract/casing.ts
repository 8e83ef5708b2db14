/**
 * The published contract speaks snake_case; TypeScript inside speaks camelCase. These are the
 * only spellings corral converts between, and only keys corral chose are converted.
 */

/** agentId → agent_id; a name already in snake_case is unchanged. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** Every key at every depth in snake_case: for records whose keys are all corral's own. */
export function snakeKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeysDeep);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [snakeCase(key), snakeKeysDeep(item)]));
}
