import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BACKEND_NAMES, BACKENDS, createBackends, defaultBackend, DEFAULT_BACKEND, findBackend } from "../../src/backends/registry.js";
import { unwrap } from "../../src/domain/errors.js";

const context = { agentServer: { command: "/usr/bin/node", args: ["/corral/main.js", "serve", "--agent"], home: "/state" } };

describe("the backend registry", () => {
  it("refuses a backend it does not list, naming the field and the backends it knows", () => {
    expect(findBackend("codex")).toEqual({
      ok: false,
      error: { code: "INVALID_INPUT", message: 'no backend "codex"; the known backends are claude, command', field: "backend" },
    });
    expect(unwrap(findBackend("claude")).name).toBe("claude");
  });

  it("runs an argv with the backend whose input is an argv, and anything else with the default", () => {
    expect(defaultBackend(["true"])).toBe("command");
    expect(defaultBackend(null)).toBe(DEFAULT_BACKEND);
    expect(unwrap(findBackend(DEFAULT_BACKEND)).capabilities.input).toBe("prompt");
  });

  it("makes every backend from its section, defaults filling what the section leaves out", () => {
    const made = unwrap(createBackends({ claude: { path: "/opt/claude" } }, context));
    expect([...made.keys()]).toEqual(BACKEND_NAMES);
    const claude = made.get("claude");
    expect(claude?.executable).toMatchObject({ kind: "configured", program: "/opt/claude", setting: ["backends", "claude", "path"] });
    expect(made.get("command")?.executable).toEqual({ kind: "per-deploy" });
  });

  it("refuses a section its backend's schema does not take, naming the key", () => {
    expect(createBackends({ claude: { permissionMode: "yolo" } }, context)).toMatchObject({
      ok: false,
      error: { code: "CONFIG_INVALID", message: expect.stringMatching(/^backends\.claude\.permissionMode: /) },
    });
  });

  it("declares a stream parser exactly where the stream is structured, and transcripts where the CLI can resume", () => {
    const made = unwrap(createBackends({}, context));
    expect(Object.fromEntries([...made].map(([name, b]) => [name, { structured: b.stream.structured, kept: b.transcripts.kept, resume: b.capabilities.resume.cli }]))).toEqual({
      claude: { structured: true, kept: true, resume: true },
      command: { structured: false, kept: false, resume: false },
    });
  });

  it("is described in the README, one row per backend", () => {
    const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Backends"), readme.indexOf("\n## ", readme.indexOf("## Backends") + 1));
    const rows = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(rows).toEqual(BACKENDS.map((b) => b.name));
  });
});
