import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorView } from "../src/contract/errors.js";
import { publishedSchema } from "../src/contract/json-schema.js";
import { toWire } from "../src/contract/wire.js";
import { StreamEventView } from "../src/lifecycle/event-views.js";
import { contextView } from "../src/lifecycle/task-status.js";
import { CleanupRecordView, EventView, TaskStatusView } from "../src/lifecycle/views.js";
import { startCoordinator, type Coordinator } from "./helpers/mcp-client.js";
import { strictWarnings, type Schema } from "./helpers/strict-schema.js";

/**
 * The published contract, committed: every tool's input and output schema on both MCP faces,
 * and the error every tool and `--json` command answers with. A change to any of them fails
 * this test until the file is written again, so it shows as a diff in review:
 *
 *     CORRAL_UPDATE_CONTRACT=1 npx vitest run test/contract.test.ts
 */
const SNAPSHOT = join(import.meta.dirname, "contract", "published-schemas.json");

interface Published {
  readonly name: string;
  readonly inputSchema: Schema;
  readonly outputSchema?: Schema;
}

let coordinator: Coordinator;
let agent: Coordinator;
let contract: { coordinator: Published[]; agent: Published[]; error: Schema };

const listed = async (server: Coordinator): Promise<Published[]> =>
  (await server.client.listTools()).tools.map(({ name, inputSchema, outputSchema }) => ({ name, inputSchema, ...(outputSchema === undefined ? {} : { outputSchema }) }));

beforeAll(async () => {
  coordinator = await startCoordinator();
  agent = await startCoordinator({}, ["--agent"]);
  contract = { coordinator: await listed(coordinator), agent: await listed(agent), error: publishedSchema(ErrorView, "output") };
});

afterAll(async () => {
  await coordinator?.close();
  await agent?.close();
});

describe("a value as it is sent (pure)", () => {
  it("has corral's keys in snake_case at every depth, and what a caller or a model wrote exactly as written", () => {
    const finding = { kind: "finding" as const, findingType: "bug", severity: "low" as const, message: "m", data: { camelKey: { deeperKey: [{ innerKey: 1 }] } } };
    expect(toWire(EventView, { id: 1, agentId: "a-000000-000000", kind: "finding", at: "t", data: finding })).toEqual({
      id: 1,
      agent_id: "a-000000-000000",
      kind: "finding",
      at: "t",
      data: { kind: "finding", finding_type: "bug", severity: "low", message: "m", data: { camelKey: { deeperKey: [{ innerKey: 1 }] } } },
    });
    expect(toWire(StreamEventView, { kind: "tool_call", id: "t1", name: "Bash", input: { dryRun: true } })).toEqual({ kind: "tool_call", id: "t1", name: "Bash", input: { dryRun: true } });
    expect(toWire(StreamEventView, { kind: "tool_result", id: "t1", isError: true, excerpt: "no" })).toEqual({ kind: "tool_result", id: "t1", is_error: true, excerpt: "no" });
  });

  it("snake_cases a cleanup step's detail, corral's own record, at every depth", () => {
    const step = { attempt: 1, startedAt: "t", step: "terminate", outcome: "ok", error: null, durationMs: 3, detail: { stoppedBeforeRecorded: { atMs: 1 }, blindSpots: ["x"] } };
    const record = { agentId: "a-000000-000000", status: "done" as const, attempts: 1, verifiedBy: "tree" as const, blindSpots: ["x"], steps: [step] };
    expect(toWire(CleanupRecordView, record)).toEqual({
      agent_id: "a-000000-000000",
      status: "done",
      attempts: 1,
      verified_by: "tree",
      blind_spots: ["x"],
      steps: [{ attempt: 1, started_at: "t", step: "terminate", outcome: "ok", error: null, duration_ms: 3, detail: { stopped_before_recorded: { at_ms: 1 }, blind_spots: ["x"] } }],
    });
  });

  it("publishes a task's context as the coordinator gave it, the client cwd included", () => {
    const context = contextView({ clientCwd: "/work", success_criteria: ["done"], backgroundNote: "kept" });
    expect(toWire(TaskStatusView.shape.task, { taskId: "T", description: "d", priority: "normal", createdAt: "t", agents: 0, active: 0, events: 0, context, workspace: "/w" })).toEqual({
      task_id: "T",
      description: "d",
      priority: "normal",
      created_at: "t",
      agents: 0,
      active: 0,
      events: 0,
      context: { client_cwd: "/work", success_criteria: ["done"], backgroundNote: "kept" },
      workspace: "/w",
    });
  });
});

describe("the published contract", () => {
  it("is the one committed in test/contract/published-schemas.json", () => {
    const text = `${JSON.stringify(contract, null, 2)}\n`;
    if (process.env.CORRAL_UPDATE_CONTRACT === "1") writeFileSync(SNAPSHOT, text);
    expect(text, "the published schemas changed: review the diff, then CORRAL_UPDATE_CONTRACT=1 npx vitest run test/contract.test.ts").toBe(
      readFileSync(SNAPSHOT, "utf8"),
    );
  });

  it("passes the strict check, with no warning, for every schema of both faces", () => {
    const schemas: [string, Schema][] = [
      ...(["coordinator", "agent"] as const).flatMap((face) =>
        contract[face].flatMap((tool): [string, Schema][] => [
          [`${face} ${tool.name} input`, tool.inputSchema],
          ...(tool.outputSchema === undefined ? [] : [[`${face} ${tool.name} output`, tool.outputSchema] as [string, Schema]]),
        ]),
      ),
      ["error", contract.error],
    ];
    expect(schemas.length).toBe(2 * (8 + 4) + 1);
    const warnings = schemas.flatMap(([name, schema]) => strictWarnings(schema).map((warning) => `${name}: ${warning}`));
    expect(warnings).toEqual([]);
  });

  it("the strict check does warn where a schema leaves a type, a closed object or the dialect out", () => {
    const loose = { type: "object", properties: { a: {}, b: { type: ["string", "null"] }, c: { type: "object", properties: {} }, d: { type: "string", minimum: 1 } } };
    expect(strictWarnings(loose)).toEqual([
      expect.stringMatching(/^\/: \$schema is undefined/),
      expect.stringMatching(/^ajv: strict mode: missing type "number" for keyword "minimum"/),
      "/: an object that leaves additionalProperties unspecified",
      "/properties/a: no type",
      "/properties/b: a list of types (string, null); use anyOf",
      "/properties/c: an object that leaves additionalProperties unspecified",
    ]);
  });

  it("speaks snake_case in every property it publishes, besides records keyed by data", () => {
    const names: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node !== null && typeof node === "object") {
        for (const [key, value] of Object.entries(node)) {
          if (key === "properties" && value !== null && typeof value === "object") names.push(...Object.keys(value));
          walk(value);
        }
      }
    };
    walk(contract);
    expect(names.filter((name) => !/^[a-z][a-z0-9_]*$/.test(name))).toEqual([]);
  });
});
