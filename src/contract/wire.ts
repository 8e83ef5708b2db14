import * as z from "zod";
import { snakeCase, snakeKeysDeep } from "./casing.js";

/**
 * Records whose keys corral chose (a cleanup step's detail), as opposed to records keyed by
 * data (tool names, task ids) or free-form records a caller gave (a finding's data, a task's
 * context), whose keys travel exactly as they were written.
 */
const corralKeyed = z.registry<Record<string, never>>();

/** Marks a record schema as keyed by corral: its keys are published in snake_case, at every depth. */
export function keyedByCorral<S extends z.ZodType>(schema: S): S {
  corralKeyed.add(schema, {});
  return schema;
}

/**
 * Any JSON value, published as exactly that (a union of the six JSON types, each with its
 * type, where a bare `{}` would leave the type out) and sent exactly as it was written. Typed
 * `unknown` inside: what it holds is the writer's.
 */
export const JsonValue: z.ZodType<unknown> = z
  .lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(z.string(), JsonValue)]))
  .meta({ id: "json_value", description: "any JSON value, as it was written" });

/** A record of JSON values keyed by whoever wrote it: keys and values travel as written. */
export const JsonRecord = () => z.record(z.string(), JsonValue);

/** The parts of a zod schema this walk reads (zod 4's `_zod.def`): its kind, and the schemas it is made of. */
interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly discriminator?: string;
  readonly getter?: () => z.ZodType;
  readonly in?: z.ZodType;
  readonly values?: readonly unknown[];
}
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/** The option of a union that `value` is: by its discriminator when the union has one. */
function branchOf(def: Def, value: unknown): z.ZodType | undefined {
  const options = def.options ?? [];
  if (def.discriminator !== undefined && isRecord(value)) {
    const tag = value[def.discriminator];
    const tagged = options.find((option) => {
      const field = defOf(option).shape?.[def.discriminator as string];
      return field !== undefined && (defOf(field).values ?? []).includes(tag);
    });
    if (tagged !== undefined) return tagged;
  }
  return options.find((option) => option.safeParse(value).success);
}

/**
 * The schema a lazy one stands for, made once: its getter builds a new schema at each call,
 * which for a tree (a task's hierarchy) would be one per node of every reply.
 */
function resolved(schema: z.ZodType, getter: () => z.ZodType): z.ZodType {
  let inner = lazies.get(schema);
  if (inner === undefined) {
    inner = getter();
    lazies.set(schema, inner);
  }
  return inner;
}
const lazies = new WeakMap<z.ZodType, z.ZodType>();

/**
 * A value as it is published: the keys of the objects `schema` describes in snake_case,
 * everything a caller wrote (free-form records, lines, messages) exactly as it was. The one
 * place where corral's camelCase becomes the contract's snake_case, for MCP and CLI alike.
 */
export function toWire<S extends z.ZodType>(schema: S, value: z.input<S>): unknown {
  return wire(schema, value);
}

function wire(schema: z.ZodType, value: unknown): unknown {
  if (schema === JsonValue) return value;
  const def = defOf(schema);
  switch (def.type) {
    case "object": {
      if (!isRecord(value)) return value;
      const shape = def.shape ?? {};
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => {
          const field = shape[key];
          return field === undefined ? [key, item] : [snakeCase(key), wire(field, item)];
        }),
      );
    }
    case "array":
      return Array.isArray(value) && def.element !== undefined ? value.map((item) => wire(def.element as z.ZodType, item)) : value;
    case "record": {
      if (!isRecord(value)) return value;
      if (corralKeyed.has(schema)) return snakeKeysDeep(value);
      const valueType = def.valueType;
      if (valueType === undefined || defOf(valueType).type === "unknown") return value;
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, wire(valueType, item)]));
    }
    case "optional":
    case "nullable":
    case "default":
    case "readonly":
      return value === undefined || value === null || def.innerType === undefined ? value : wire(def.innerType, value);
    case "lazy":
      return def.getter === undefined ? value : wire(resolved(schema, def.getter), value);
    case "pipe":
      return def.in === undefined ? value : wire(def.in, value);
    case "union": {
      const branch = branchOf(def, value);
      return branch === undefined ? value : wire(branch, value);
    }
    default:
      return value;
  }
}
