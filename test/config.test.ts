import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BACKEND_SECTIONS } from "../src/backends/registry.js";
import { envName, GeneralConfigSchema, resolveConfig, settings } from "../src/domain/config.js";

const resolve = (env: NodeJS.ProcessEnv, file: Record<string, unknown> | null) => resolveConfig(env, file, "/home/u", BACKEND_SECTIONS);
const message = (result: ReturnType<typeof resolve>): string => (result.ok ? "" : `${result.error.code}: ${result.error.message}`);

describe("nested configuration", () => {
  it("gives every backend its own section, with every default when the file has none", () => {
    const config = resolve({}, null);
    expect(config.ok && config.value.backends).toEqual({
      claude: { path: "claude", permissionMode: "acceptEdits", allowedTools: [], strictMcp: false },
      command: {},
    });
  });

  it("reads a backend's section from the file, and its variable over the file", () => {
    const file = { maxDepth: 1, backends: { claude: { path: "/opt/claude", allowedTools: ["Bash"] } } };
    expect(resolve({}, file)).toMatchObject({ ok: true, value: { maxDepth: 1, backends: { claude: { path: "/opt/claude", allowedTools: ["Bash"], strictMcp: false } } } });
    const overridden = resolve({ CORRAL_BACKENDS_CLAUDE_PATH: "/usr/bin/claude", CORRAL_BACKENDS_CLAUDE_ALLOWED_TOOLS: "Bash, Read", CORRAL_BACKENDS_CLAUDE_STRICT_MCP: "1" }, file);
    expect(overridden).toMatchObject({ ok: true, value: { backends: { claude: { path: "/usr/bin/claude", allowedTools: ["Bash", "Read"], strictMcp: true } } } });
  });

  it("derives every variable from its key path, so no two settings share one", () => {
    const all = settings(BACKEND_SECTIONS);
    for (const setting of all) expect(setting.env).toBe(envName(setting.path));
    expect(envName(["maxConcurrentAgents"])).toBe("CORRAL_MAX_CONCURRENT_AGENTS");
    expect(envName(["backends", "claude", "permissionMode"])).toBe("CORRAL_BACKENDS_CLAUDE_PERMISSION_MODE");
    const names = all.flatMap((s) => [s.env, ...s.aliases]);
    expect(new Set(names).size).toBe(names.length);
  });

  it("still reads claude's former variables, and the new name wins when both are set", () => {
    const former = settings(BACKEND_SECTIONS).filter((s) => s.path[0] === "backends" && s.aliases.length > 0);
    expect(former.map((s) => [s.env, s.aliases])).toEqual([
      ["CORRAL_BACKENDS_CLAUDE_PATH", ["CORRAL_CLAUDE_PATH"]],
      ["CORRAL_BACKENDS_CLAUDE_PERMISSION_MODE", ["CORRAL_CLAUDE_PERMISSION_MODE"]],
      ["CORRAL_BACKENDS_CLAUDE_ALLOWED_TOOLS", ["CORRAL_CLAUDE_ALLOWED_TOOLS"]],
      ["CORRAL_BACKENDS_CLAUDE_STRICT_MCP", ["CORRAL_CLAUDE_STRICT_MCP"]],
    ]);
    expect(resolve({ CORRAL_CLAUDE_PATH: "/old/claude", CORRAL_CLAUDE_STRICT_MCP: "true" }, null)).toMatchObject({
      ok: true,
      value: { backends: { claude: { path: "/old/claude", strictMcp: true } } },
    });
    expect(resolve({ CORRAL_CLAUDE_PATH: "/old/claude", CORRAL_BACKENDS_CLAUDE_PATH: "/new/claude" }, null)).toMatchObject({
      ok: true,
      value: { backends: { claude: { path: "/new/claude" } } },
    });
  });

  it("names the variable a bad backend value came from, former name or new", () => {
    expect(message(resolve({ CORRAL_BACKENDS_CLAUDE_PERMISSION_MODE: "yolo" }, null))).toMatch(/^CONFIG_INVALID: invalid configuration: CORRAL_BACKENDS_CLAUDE_PERMISSION_MODE: /);
    expect(message(resolve({ CORRAL_CLAUDE_PERMISSION_MODE: "yolo" }, null))).toMatch(/CORRAL_CLAUDE_PERMISSION_MODE: /);
    expect(message(resolve({}, { backends: { claude: { permissionMode: "yolo" } } }))).toMatch(/backends\.claude\.permissionMode: /);
  });

  it("refuses a former flat key in the file, saying where it goes now", () => {
    const result = resolve({}, { claudePath: "/opt/claude", claudeStrictMcp: true });
    expect(message(result)).toBe(
      'CONFIG_INVALID: invalid configuration: claudePath: the claude backend\'s settings moved into a section: write {"backends": {"claude": {"path": "/opt/claude"}}} instead; ' +
        'claudeStrictMcp: the claude backend\'s settings moved into a section: write {"backends": {"claude": {"strictMcp": true}}} instead',
    );
  });

  it("refuses a section for a backend it does not know, naming the ones it does", () => {
    expect(message(resolve({}, { backends: { codex: { path: "codex" } } }))).toBe(
      'CONFIG_INVALID: invalid configuration: backends.codex: no backend "codex"; the known backends are claude, command',
    );
    expect(message(resolve({}, { backends: { claude: { colour: "red" } } }))).toMatch(/backends\.claude: Unrecognized key: "colour"/);
  });
});

describe("the README's configuration table", () => {
  const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("\n## ", readme.indexOf("## Configuration") + 1));
  const rows = [...section.matchAll(/^\| `([\w.]+)` \| (.+?) \| (.+?) \| .+ \|$/gm)].map(([, key, env, fallback]) => ({
    key,
    env: [...(env as string).matchAll(/`(\w+)`/g)].map((m) => m[1]),
    fallback,
  }));

  /** How the table writes a default: strings and booleans in code, numbers bare, an empty list as none. */
  const written = (value: unknown): string =>
    Array.isArray(value) && value.length === 0 ? "none" : typeof value === "number" ? String(value) : `\`${String(value)}\``;

  it("has one row per setting, with its variable, its former names and its default", () => {
    const defaults = resolve({}, null);
    if (!defaults.ok) throw new Error(defaults.error.message);
    const expected = settings(BACKEND_SECTIONS).map((setting) => {
      const value = setting.path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], defaults.value);
      return { key: setting.path.join("."), env: [setting.env, ...setting.aliases], fallback: setting.path[0] === "home" ? "`~/.corral`" : written(value) };
    });
    const byKey = (a: { key?: string }, b: { key?: string }) => (a.key ?? "").localeCompare(b.key ?? "");
    expect([...rows].sort(byKey)).toEqual([...expected].sort(byKey));
    expect(Object.keys(GeneralConfigSchema.shape).length + settings(BACKEND_SECTIONS).filter((s) => s.path[0] === "backends").length).toBe(rows.length);
  });
});
