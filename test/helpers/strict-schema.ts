import { Ajv2020 } from "ajv/dist/2020.js";

export type Schema = { readonly [key: string]: unknown };

const DIALECT = "https://json-schema.org/draft/2020-12/schema";
const COMBINATORS = ["anyOf", "oneOf", "allOf"] as const;
/** Keywords whose values are schemas, or maps or lists of schemas. */
const ONE = ["items", "additionalProperties", "propertyNames", "not", "contains", "if", "then", "else", "unevaluatedProperties", "unevaluatedItems"];
const MAP = ["properties", "$defs", "patternProperties", "dependentSchemas"];
const LIST = ["anyOf", "oneOf", "allOf", "prefixItems"];

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * The strict check a published tool schema must pass with no warning, the rules strict MCP
 * clients and the MCP Inspector's strict mode enforce:
 * - it is valid JSON Schema 2020-12, and declares that dialect (`$schema`);
 * - Ajv in strict mode, every strict option on, has nothing to say: no unknown keyword, no
 *   keyword for a type the node does not declare, no union of types, no `required` naming a
 *   property that is not defined;
 * - every node declares its `type`, a single one, unless it is a union (`anyOf`/`oneOf`/`allOf`)
 *   whose branches do, or a `$ref`; so no bare `{}` or `true` for "anything";
 * - every object says whether it takes other properties (`additionalProperties`).
 * Returns the warnings, each with the JSON pointer of its node.
 */
export function strictWarnings(schema: Schema): string[] {
  const warnings: string[] = [];
  if (schema.$schema !== DIALECT) warnings.push(`/: $schema is ${JSON.stringify(schema.$schema)}, not ${DIALECT}`);
  const log = (...args: unknown[]) => warnings.push(`ajv: ${args.map(String).join(" ")}`);
  const ajv = new Ajv2020({ strict: "log", allErrors: true, logger: { log, warn: log, error: log } });
  try {
    ajv.compile(schema);
  } catch (cause) {
    warnings.push(`ajv: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  lint(schema, "", warnings);
  return warnings;
}

function lint(node: unknown, pointer: string, warnings: string[]): void {
  if (typeof node === "boolean") {
    warnings.push(`${pointer || "/"}: a boolean schema (${node}) says nothing of the value's type`);
    return;
  }
  if (!isObject(node)) return;
  const at = pointer || "/";
  const combinator = COMBINATORS.find((keyword) => Array.isArray(node[keyword]));
  if (Array.isArray(node.type)) warnings.push(`${at}: a list of types (${node.type.join(", ")}); use anyOf`);
  else if (typeof node.type !== "string" && combinator === undefined && typeof node.$ref !== "string") warnings.push(`${at}: no type`);
  if (node.type === "object" && node.additionalProperties === undefined) warnings.push(`${at}: an object that leaves additionalProperties unspecified`);
  // A closed object (additionalProperties: false) is the one place a boolean schema says what it means.
  for (const key of ONE) if (key in node && !(key === "additionalProperties" && node[key] === false)) lint(node[key], `${pointer}/${key}`, warnings);
  for (const key of MAP) {
    const map = node[key];
    if (isObject(map)) for (const [name, sub] of Object.entries(map)) lint(sub, `${pointer}/${key}/${name}`, warnings);
  }
  for (const key of LIST) {
    const list = node[key];
    if (Array.isArray(list)) list.forEach((sub, i) => lint(sub, `${pointer}/${key}/${i}`, warnings));
  }
}
