import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { corralEntry } from "../../src/lifecycle/self.js";
import { ms, repeat, type Bench, type Summary } from "../harness.js";

const SPAWNS = 20;

const INITIALIZE = `${JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "corral-bench", version: "1" } },
})}\n`;

/** Spawn to exit of `corral ARGS`, in ms. */
function untilExit(args: readonly string[], home: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [corralEntry(), ...args], { env: { ...process.env, CORRAL_HOME: home }, stdio: ["ignore", "ignore", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`corral ${args.join(" ")} exited ${code}`))));
  });
}

/** Spawn to the answer to `initialize` of `corral serve ARGS`, in ms; the server is then let go and waited for. */
function untilInitialized(args: readonly string[], home: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [corralEntry(), "serve", ...args], {
      env: { ...process.env, CORRAL_HOME: home, CORRAL_LOG_LEVEL: "warn" },
      stdio: ["pipe", "pipe", "inherit"],
    });
    child.once("error", reject);
    child.stdin.write(INITIALIZE);
    const lines = createInterface({ input: child.stdout });
    lines.once("line", () => {
      const elapsed = performance.now() - t0;
      lines.close();
      child.once("exit", () => resolve(elapsed));
      child.stdin.end();
    });
  });
}

/**
 * How long each command takes from spawn, as a user or an MCP client meets it: `--version`,
 * `ps` on an empty store, and `serve` (the coordinator's, and an agent's own) to its answer to
 * `initialize`; the median of 20 spawns each, one after another.
 */
export async function benchStartup(bench: Bench): Promise<void> {
  const home = bench.home("startup-");
  // The state dir is made once, as a user's is, before the spawns that count.
  await untilExit(["ps"], home);
  const version = await repeat(SPAWNS, () => untilExit(["--version"], home));
  const ps = await repeat(SPAWNS, () => untilExit(["ps"], home));
  const serve = await repeat(SPAWNS, () => untilInitialized([], home));
  const agent = await repeat(SPAWNS, () => untilInitialized(["--agent"], home));
  const node = await repeat(SPAWNS, () => new Promise<number>((resolve) => {
    const t0 = performance.now();
    spawn(process.execPath, ["-e", "0"], { stdio: "ignore" }).once("exit", () => resolve(performance.now() - t0));
  }));
  const figures: Record<string, Summary> = { node, version, ps, serve, agent };
  bench.record("cold start: `node -e 0`, for scale", ms(node), "-", null, node);
  bench.record("cold start: `corral --version`", ms(version), "≤ 80 ms", version.median <= 80, figures.version);
  bench.record("cold start: `corral ps`, empty store", ms(ps), "≤ 120 ms", ps.median <= 120, figures.ps);
  bench.record("cold start: `corral serve` to its initialize answer", ms(serve), "-", null, figures.serve);
  bench.record("cold start: `corral serve --agent` to its initialize answer", ms(agent), "-", null, figures.agent);
}
