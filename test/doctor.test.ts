import { execFile } from "node:child_process";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import type { Corral } from "../src/lifecycle/corral.js";
import { CLAUDE } from "./helpers/claude-env.js";
import { CORRAL_BIN } from "./helpers/mcp-client.js";
import { openCorral } from "./helpers/sandbox.js";

const exec = promisify(execFile);
let corral: Corral;
afterEach(async () => {
  await corral.shutdown("test over");
});

/** A PATH with the system's tools and node, and no claude (none is installed on it here). */
const PATH_WITHOUT_CLAUDE = [dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"].join(":");

/** Runs the built `corral doctor` on this test's state dir; never throws. */
async function doctor(env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, CORRAL_HOME: corral.config.home };
  delete base.CORRAL_BACKENDS_CLAUDE_PATH;
  delete base.CORRAL_CLAUDE_PATH;
  return exec(process.execPath, [CORRAL_BIN, "doctor"], { env: { ...base, ...env } }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { stdout: string; code: number }) => ({ code: e.code, stdout: e.stdout }),
  );
}

describe("corral doctor", () => {
  it("is ready when the default backend's CLI is on PATH, and names it with its version", async () => {
    corral = openCorral();
    const healthy = await doctor({ PATH: `${dirname(CLAUDE)}:${PATH_WITHOUT_CLAUDE}` });
    expect(healthy.stdout).toMatch(new RegExp(`^ok {4}backend claude: ${dirname(CLAUDE).replaceAll(".", "\\.")}/claude: \\d+\\.\\d+\\.\\d+ \\(Claude Code\\) \\(the default\\)$`, "m"));
    expect(healthy.stdout).toMatch(/^ok {4}backend command: runs the argv each deploy gives$/m);
    expect(healthy.stdout).toMatch(/^ok {4}node: v20/m);
    expect(healthy.stdout).toMatch(/^ok {4}database: schema version \d+$/m);
    expect(healthy.stdout).toMatch(/^ok {4}tmux: \S+: tmux 3\./m);
    // Which mechanism this machine gives: a cgroup per agent where the hierarchy is writable.
    expect(healthy.stdout).toMatch(/^(ok {4}processes: cgroup: |warn {2}processes: (tini's tree|sweep))/m);
    expect(healthy.stdout).toMatch(/^ok {4}containment: none: agents can read and write everything you can; \S+ works here/m);
    expect(healthy.stdout).toMatch(/corral is ready\n$/);
    expect(healthy.code).toBe(0);
  });

  it("finds the CLI the configured path names, wherever PATH points", async () => {
    corral = openCorral();
    const configured = await doctor({ PATH: PATH_WITHOUT_CLAUDE, CORRAL_BACKENDS_CLAUDE_PATH: CLAUDE });
    expect(configured.stdout).toMatch(/^ok {4}backend claude: \S+\/claude: \d+\.\d+\.\d+ \(Claude Code\)/m);
    expect(configured.code).toBe(0);
  });

  it("is not ready when the default backend's CLI is missing: it names the CLI it would run and what to do", async () => {
    corral = openCorral();
    const missing = await doctor({ PATH: PATH_WITHOUT_CLAUDE });
    expect(missing.stdout).toMatch(
      /^FAIL {2}backend claude: would run claude on PATH, which is not found: it is the default backend, so a deploy that names no backend and gives no argv fails; npm install -g @anthropic-ai\/claude-code, or set CORRAL_BACKENDS_CLAUDE_PATH \(backends\.claude\.path in the config file\) to its path$/m,
    );
    expect(missing.stdout).toMatch(/^ok {4}backend command: /m);
    expect(missing.stdout).not.toMatch(/ready/);
    expect(missing.stdout).toMatch(/1 problem to fix\n$/);
    expect(missing.code).toBe(1);
  });

  it("lists every problem, each with what to do, and exits 1", async () => {
    corral = openCorral();
    const { stdout, code } = await doctor({
      CORRAL_MIN_FREE_MB: String(Number.MAX_SAFE_INTEGER),
      CORRAL_BACKENDS_CLAUDE_PATH: "/nonexistent/claude",
      CORRAL_RUNNER: "tmux",
      CORRAL_CGROUPS: "off",
      PATH: "/nonexistent",
    });
    expect(stdout).toMatch(/^FAIL {2}backend claude: would run \/nonexistent\/claude, which is not found/m);
    expect(stdout).toMatch(/^FAIL {2}state dir: .* below minFreeMb=/m);
    expect(stdout).toMatch(/^FAIL {2}tmux: tmux or setsid is not on PATH/m);
    expect(stdout).toMatch(/^warn {2}processes: sweep, blind to a descendant that left the agent's session and cleared its environment/m);
    expect(stdout).toMatch(/3 problems to fix\n$/);
    expect(code).toBe(1);
  });
});
