import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cgroupMembers, killCgroup, removeCgroup, stateDirCgroup } from "../src/supervisor/cgroup.js";
import { childPids, readStat } from "../src/supervisor/procfs.js";
import { leftoverTempFiles } from "../test/helpers/sandbox.js";
import { agentCgroups, soakProcesses, tmuxServers } from "./probe.js";

/**
 * What the leak guard checks after a test file, checked after the soak's corral has exited:
 * no process of the soak, no tmux server or socket, no zombie, no agent's cgroup, no temp file
 * (agent dirs, live logs, relay dirs, journal entries). Whatever is found is removed, so the
 * machine is left clean either way, and reported.
 */
export async function leftovers(root: string, home: string, tag: string): Promise<string[]> {
  const problems: string[] = [];
  let processes = soakProcesses(null, tag);
  for (let i = 0; i < 100 && processes.length > 0; i += 1) {
    await sleep(20);
    processes = soakProcesses(null, tag);
  }
  if (processes.length > 0) {
    const servers = new Set(tmuxServers(processes, home));
    problems.push(`processes left: ${processes.map((p) => `${p.pid} ${p.comm}${servers.has(p.pid) ? " (tmux server)" : ""} state ${p.state}`).join(", ")}`);
    for (const p of processes) signal(p.pid);
  }
  const sockets = join(home, "tmux");
  if (existsSync(sockets) && readdirSync(sockets).length > 0) problems.push(`tmux sockets left: ${readdirSync(sockets).join(", ")}`);
  // Node reaps an exited child when its event loop handles SIGCHLD: give it the chance.
  const zombieChildren = (): number[] => childPids(process.pid).filter((pid) => readStat(pid)?.state === "Z");
  for (let i = 0; i < 100 && zombieChildren().length > 0; i += 1) await sleep(20);
  if (zombieChildren().length > 0) problems.push(`zombie children: ${zombieChildren().join(", ")}`);
  for (const cgroup of agentCgroups(home)) {
    const inside = cgroupMembers(cgroup);
    problems.push(`cgroup left: ${cgroup}${inside.length === 0 ? "" : ` holding ${inside.map((p) => p.pid).join(", ")}`}`);
    killCgroup(cgroup);
    for (let i = 0; i < 100 && cgroupMembers(cgroup).length > 0; i += 1) await sleep(20);
    removeCgroup(cgroup);
  }
  // The state dir's own cgroup holds nothing once its agents' are gone; the next corral would remove it.
  const parent = stateDirCgroup(home);
  if (parent !== null && existsSync(parent)) removeCgroup(parent);
  const temp = leftoverTempFiles(root);
  if (temp.length > 0) problems.push(`temp files left: ${temp.slice(0, 10).join(", ")}${temp.length > 10 ? ` and ${temp.length - 10} more` : ""}`);
  return problems;
}

function signal(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (cause) {
    if ((cause as { code?: unknown }).code !== "ESRCH") throw cause;
  }
}
