import type { BackendSections } from "../domain/config.js";
import { fail, ok, type Result } from "../domain/errors.js";
import type { Backend, BackendContext, BackendDefinition } from "./backend.js";
import { claude } from "./claude/index.js";
import { command } from "./command/index.js";

/**
 * Every backend corral knows: the one place that lists them. A new agent CLI is a folder
 * beside claude/ and command/ holding its definition, and one more entry here.
 */
const DEFINITIONS = [claude, command] as const;

export const BACKENDS: readonly BackendDefinition[] = DEFINITIONS;
export type BackendName = (typeof DEFINITIONS)[number]["name"];
/** The names, as the tuple zod's enum takes: the list above is never empty. */
export const BACKEND_NAMES = DEFINITIONS.map((b) => b.name) as [BackendName, ...BackendName[]];

/** Whom a deploy that names no backend and gives no argv runs. */
export const DEFAULT_BACKEND: BackendName = "claude";

/** Each backend's config section (`backends.<name>`), and the flat keys it replaced. */
export const BACKEND_SECTIONS: BackendSections = {
  schemas: Object.fromEntries(BACKENDS.map((b) => [b.name, b.settings])),
  formerFlatKeys: Object.fromEntries(BACKENDS.map((b) => [b.name, b.formerFlatKeys])),
};

/** Each backend with what it runs, for a tool's description: a new backend appears there by itself. */
export function describeBackends(): string {
  return BACKENDS.map((b) => `'${b.name}' (${b.summary}${b.name === DEFAULT_BACKEND ? "; the default" : ""})`).join(", ");
}

/** The definition named `name`, or an error naming the known ones. */
export function findBackend(name: string): Result<BackendDefinition> {
  const found = BACKENDS.find((b) => b.name === name);
  return found === undefined
    ? fail("INVALID_INPUT", `no backend ${JSON.stringify(name)}; the known backends are ${BACKEND_NAMES.join(", ")}`, "backend")
    : ok(found);
}

/** The backend of a deploy that names none: the one that runs an argv when one is given, else the default. */
export function defaultBackend(command: readonly string[] | null): string {
  return command === null ? DEFAULT_BACKEND : (BACKENDS.find((b) => b.capabilities.input === "argv")?.name ?? DEFAULT_BACKEND);
}

/** One backend made from its section of the configuration (absent: every default). */
export function createBackend(definition: BackendDefinition, section: unknown, context: BackendContext): Result<Backend> {
  const settings = definition.settings.safeParse(section ?? {});
  if (!settings.success) {
    const issue = settings.error.issues[0];
    return fail("CONFIG_INVALID", `backends.${definition.name}.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  return ok({ name: definition.name, capabilities: definition.capabilities, ...definition.create(settings.data, context) });
}

/** Every backend, made from the `backends` sections of the configuration. */
export function createBackends(sections: Readonly<Record<string, unknown>>, context: BackendContext): Result<ReadonlyMap<string, Backend>> {
  const made = new Map<string, Backend>();
  for (const definition of BACKENDS) {
    const backend = createBackend(definition, sections[definition.name], context);
    if (!backend.ok) return backend;
    made.set(definition.name, backend.value);
  }
  return ok(made);
}
