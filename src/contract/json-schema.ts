import * as z from "zod";
import { snakeCase } from "./casing.js";

export type JsonSchema = { readonly [key: string]: unknown };

/** The dialect every published schema declares: the one MCP specifies for tool schemas. */
export const DIALECT = "https://json-schema.org/draft/2020-12/schema";

/** Keywords whose values are data, not schemas: nothing in them is renamed. */
const DATA_KEYWORDS = new Set(["const", "enum", "default", "examples"]);

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * A schema as corral publishes it: JSON Schema 2020-12, property names in snake_case (the
 * same renaming toWire applies to values), every object closed with additionalProperties, and
 * a nullable value as `anyOf [T, null]` rather than a list of types, which strict validators
 * and several MCP clients refuse.
 */
export function publishedSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const made = published[io].get(schema);
  if (made !== undefined) return made;
  const json = z.toJSONSchema(schema, { io, target: "draft-2020-12", unrepresentable: "throw", cycles: "ref", reused: "inline" });
  const result = { $schema: DIALECT, ...(publish(json) as Record<string, unknown>) };
  published[io].set(schema, result);
  return result;
}

/** Made once per schema: every agent server publishes the same tools. */
const published = { input: new WeakMap<z.ZodType, JsonSchema>(), output: new WeakMap<z.ZodType, JsonSchema>() };

function publish(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(publish);
  if (!isObject(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "properties" && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [snakeCase(name), publish(sub)]));
    } else if (key === "required" && Array.isArray(value)) {
      out[key] = value.map((name) => (typeof name === "string" ? snakeCase(name) : name));
    } else {
      out[key] = DATA_KEYWORDS.has(key) ? value : publish(value);
    }
  }
  if (out.type === "object" && out.additionalProperties === undefined) out.additionalProperties = false;
  // zod bounds every integer by the safe range: no bound a reader needs to see.
  if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
  if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  return splitTypeList(out);
}

/** `{type: [T, "null"], …}` → `{anyOf: [{type: T, …}, {type: "null"}]}`. */
function splitTypeList(node: Record<string, unknown>): Record<string, unknown> {
  const types = node.type;
  if (!Array.isArray(types)) return node;
  const { type: _types, description, ...rest } = node;
  const anyOf = types.map((type) => {
    if (type === "null") return { type: "null" };
    const kept = Object.fromEntries(
      Object.entries(rest).filter(([key, value]) => key !== "enum" || Array.isArray(value)),
    );
    if (Array.isArray(kept.enum)) kept.enum = kept.enum.filter((item) => item !== null);
    return { ...kept, type };
  });
  return description === undefined ? { anyOf } : { description, anyOf };
}
