import { benchAgentMemory } from "./cases/agent-memory.js";
import { benchAgentServers } from "./cases/agentservers.js";
import { benchDeploy } from "./cases/deploy.js";
import { benchEvents } from "./cases/events.js";
import { benchFollowCpu } from "./cases/follow-cpu.js";
import { benchGc } from "./cases/gc.js";
import { benchIdleCpu } from "./cases/idle-cpu.js";
import { benchKill } from "./cases/kill.js";
import { benchLifecycles } from "./cases/lifecycles.js";
import { benchReconcileCpu } from "./cases/reconcile-cpu.js";
import { benchRecovery } from "./cases/recovery.js";
import { benchRoundTrip } from "./cases/roundtrip.js";
import { benchRunners } from "./cases/runners.js";
import { benchShutdown } from "./cases/shutdown.js";
import { benchStall } from "./cases/stall.js";
import { benchStartup } from "./cases/startup.js";
import { benchStatus } from "./cases/status.js";
import { benchWriters } from "./cases/writers.js";
import { runBench, type BenchCase } from "./harness.js";

/**
 * corral's speed and resource figures: one file per case under cases/, run in this order by
 * `npm run bench`, or by name (`npm run bench -- status gc`).
 */
const CASES: Readonly<Record<string, BenchCase>> = {
  kill: benchKill,
  deploy: benchDeploy,
  runners: benchRunners,
  lifecycles: benchLifecycles,
  events: benchEvents,
  writers: benchWriters,
  roundtrip: benchRoundTrip,
  stall: benchStall,
  status: benchStatus,
  agentservers: benchAgentServers,
  memory: benchAgentMemory,
  recovery: benchRecovery,
  shutdown: benchShutdown,
  gc: benchGc,
  "idle-cpu": benchIdleCpu,
  "reconcile-cpu": benchReconcileCpu,
  "follow-cpu": benchFollowCpu,
  startup: benchStartup,
};

await runBench(CASES, process.argv.slice(2));
