import { randomBytes } from "node:crypto";
import { realpathSync, statfsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { AGENT_TOKEN_VARIABLE, COORDINATOR_TOKEN_VARIABLE, RELAY_VARIABLE, type AgentToolsRoute, type Backend, type BackendPlan } from "../backends/backend.js";
import { defaultBackend, findBackend } from "../backends/registry.js";
import type { RunnerKind } from "../domain/config.js";
import { describeUnknown, fail, ok, type Result } from "../domain/errors.js";
import { newAgentId, newTaskId } from "../domain/ids.js";
import { bwrapArgv } from "../runners/bwrap.js";
import { findExecutable } from "../runners/executables.js";
import type { AgentHandle, Runner } from "../runners/runner.js";
import type { AgentRecord, TaskRecord } from "../store/records.js";
import { containedView } from "./containment.js";
import type { Core } from "./core.js";
import { workingDirectory } from "./directories.js";
import type { Endings } from "./endings.js";
import { failpoint } from "./failpoints.js";
import { placementOf } from "./handles.js";
import { CreateTaskInputSchema, DeployInputSchema, parseInput, type CreateTaskInput, type DeployInput } from "./inputs.js";
import { corralRoot } from "./self.js";
import { hashToken, newToken } from "./tokens.js";

/** How each agent this process launched is seen to end, until it has been. */
interface ExitWatch {
  readonly runner: Runner;
  readonly handle: AgentHandle;
  readonly handled: Promise<void>;
}

/**
 * Tasks made and agents launched: every input checked before anything is created, limits and
 * the row in one transaction, then the launch; once the row exists every failure ends the
 * agent `failed`, and its cleanup still runs.
 */
export class Deployment {
  private readonly exits = new Map<string, ExitWatch>();

  constructor(
    private readonly core: Core,
    private readonly endings: Endings,
    /** Called after each launch: a corral that launched agents watches the disk under them. */
    private readonly launched: () => void,
  ) {}

  createTask(raw: CreateTaskInput): Result<TaskRecord> {
    const { core } = this;
    const usable = core.usable();
    if (!usable.ok) return usable;
    const input = parseInput(CreateTaskInputSchema, raw);
    if (!input.ok) return input;
    const clientCwd = input.value.clientCwd === undefined ? null : workingDirectory(input.value.clientCwd, "client_cwd");
    if (clientCwd !== null && !clientCwd.ok) return clientCwd;
    const id = newTaskId();
    const workspace = core.workspaces.createTask(id);
    if (!workspace.ok) return workspace;
    const context = { ...input.value.context, ...(clientCwd === null ? {} : { clientCwd: clientCwd.value }) };
    const inserted = core.store.writeNow(() =>
      core.store.tasks.insert({
        id,
        description: input.value.description,
        priority: input.value.priority,
        context,
        workspace: workspace.value,
        createdAt: Date.now(),
      }),
    );
    if (!inserted.ok) core.workspaces.removeTask(id);
    return inserted;
  }

  /**
   * Checks limits and inserts the agent in one transaction, then launches it. Once the row
   * exists every failure ends it `failed` with the reason, and its cleanup still runs.
   */
  async deploy(raw: DeployInput): Promise<Result<AgentRecord>> {
    const { core } = this;
    const usable = core.usable();
    if (!usable.ok) return usable;
    const input = parseInput(DeployInputSchema, raw);
    if (!input.ok) return input;
    const { taskId, agentType, prompt } = input.value;
    const task = core.store.tasks.get(taskId);
    if (task === null) return fail("UNKNOWN_TASK", `no task ${taskId}`, "task_id");
    const parent = input.value.parentId === undefined ? null : core.store.agents.get(input.value.parentId);
    const chosen = this.chooseLaunch(input.value, parent?.runner ?? null);
    if (!chosen.ok) return chosen;
    const { backend, runner, command } = chosen.value;
    const where = workingDirectory(input.value.cwd ?? stringOr(task.context.clientCwd, task.workspace), "cwd");
    if (!where.ok) return where;
    const cwd = where.value;
    const space = this.freeSpaceCheck();
    if (!space.ok) return space;
    if (core.bwrap !== null && !core.relays.serving) {
      return fail("LAUNCH_FAILED", "agents run contained (bwrap) but this corral process does not serve their tools; deploy through corral serve or corral run");
    }
    const agentId = newAgentId(agentType);
    const paths = core.workspaces.agentPaths(taskId, agentId);
    if (!paths.ok) return paths;

    const mark = randomBytes(16).toString("hex");
    const token = newToken();
    const toolsUrl = this.servesOverHttp(backend) ? await core.endpoints.url() : ok(null);
    if (!toolsUrl.ok) return toolsUrl;
    const inserted = await core.writeForCall(() => core.store.agents.insert(
      {
        id: agentId,
        taskId,
        type: agentType,
        parentId: input.value.parentId ?? null,
        backend: backend.name,
        runner: runner.kind,
        prompt,
        spec: {
          command,
          model: input.value.model ?? null,
          effort: input.value.effort ?? null,
          maxRuntimeMs: input.value.maxRuntimeMs ?? null,
          ...(core.bwrap === null ? {} : { containment: "bwrap" }),
        },
        cwd,
        agentDir: paths.value.dir,
        logPath: paths.value.log,
        mark,
        tokenHash: hashToken(token),
        toolsUrl: toolsUrl.value,
        owner: core.owner,
        createdAt: Date.now(),
      },
      core.config,
    ));
    if (!inserted.ok) return inserted;
    if (!inserted.value.ok) return inserted.value;
    const agent = inserted.value.value;
    failpoint("deploy:after-insert");

    // A contained agent's tools are served on its relay socket, which must listen before it starts.
    const relay: Result<string | null> = core.bwrap === null ? ok(null) : await core.relays.listen(agentId);
    const tools: AgentToolsRoute =
      relay.ok && relay.value !== null
        ? { via: "relay", socket: relay.value }
        : toolsUrl.value !== null
          ? { via: "http", url: toolsUrl.value, token }
          : { via: "server", token };
    const plan = !relay.ok ? relay : backend.plan({
      agentId,
      taskId,
      agentType,
      prompt,
      cwd,
      parentId: agent.parentId,
      depth: agent.depth,
      task: { description: task.description, context: task.context },
      dir: paths.value.dir,
      tools,
      command,
      model: input.value.model ?? null,
      effort: input.value.effort ?? null,
      resume: null,
    });
    const launched = plan.ok ? await this.launch(agent, runner, backend, plan.value, relay.ok ? relay.value : null) : plan;
    if (!launched.ok) {
      // The end below says it failed; a refused launch record changes nothing it says.
      core.store.writeNow(() => core.store.runs.recordLaunch(agentId, null, Date.now()));
      await this.endings.end(agentId, { status: "failed", reason: launched.error.message, exit: null });
      return fail("LAUNCH_FAILED", `agent ${agentId} failed to launch and was cleaned up: ${launched.error.message}`);
    }
    return ok(core.store.agents.get(agentId) as AgentRecord);
  }

  /**
   * What deploy checks of its input before it needs a task: the fields, the backend and its
   * command, the runner, the cwd when one is given. Creates nothing: a caller that would make a
   * task for its agents checks them first.
   */
  checkDeploy(raw: Omit<DeployInput, "taskId">): Result<void> {
    const input = parseInput(DeployInputSchema.omit({ taskId: true }), raw);
    if (!input.ok) return input;
    const chosen = this.chooseLaunch(input.value, null);
    if (!chosen.ok) return chosen;
    const cwd = input.value.cwd === undefined ? null : workingDirectory(input.value.cwd, "cwd");
    return cwd === null || cwd.ok ? ok(undefined) : cwd;
  }

  /** The exits of agents this process launched that are seen but not yet handled, of agents now gone. */
  exitsOfTheDead(): Promise<void>[] {
    return [...this.exits.values()].filter((exit) => !exit.runner.running(exit.handle)).map((exit) => exit.handled);
  }

  private chooseLaunch(
    input: { backend?: string | undefined; command?: string[] | undefined; runner?: RunnerKind | undefined },
    parentRunner: RunnerKind | null,
  ): Result<{ backend: Backend; runner: Runner; command: string[] | null }> {
    const command = input.command ?? null;
    const known = findBackend(input.backend ?? defaultBackend(command));
    if (!known.ok) return known;
    const backend = this.core.backends.get(known.value.name);
    if (backend === undefined) return fail("INVALID_INPUT", `${known.value.name} is not configured here`, "backend");
    const checked = backend.check({ command });
    if (!checked.ok) return checked;
    // A child runs where its parent does unless told otherwise: a person watching the parent
    // in tmux can watch its children there too.
    const runnerKind = input.runner ?? (parentRunner === "tmux" ? "tmux" : this.core.config.runner);
    const runner = this.core.runners.launchable(runnerKind);
    if (!runner.ok) return runner;
    return ok({ backend, runner: runner.value, command });
  }

  /**
   * Whether a new agent calls its tools over HTTP, served by this process: where the setting
   * asks for it, the CLI can, and this process serves agents (an agent's own server process,
   * deploying a child, does not: the child gets a server process too). A contained agent
   * reaches them through its relay socket instead.
   */
  private servesOverHttp(backend: Backend): boolean {
    const { core } = this;
    return core.bwrap === null && core.config.agentTools === "http" && backend.capabilities.mcpTransports.includes("http") && core.endpoints.serving;
  }

  /** Below the free-space floor new agents are refused; the running ones keep running. */
  private freeSpaceCheck(): Result<void> {
    const { config } = this.core;
    const stats = statfsSync(config.home);
    const freeMb = (stats.bavail * stats.bsize) / (1024 * 1024);
    if (freeMb >= config.minFreeMb) return ok(undefined);
    return fail(
      "DISK_LOW",
      `only ${Math.floor(freeMb)} MB free under ${config.home}, below minFreeMb=${config.minFreeMb}: no new agent is started; run corral gc or free some space`,
    );
  }

  private async launch(agent: AgentRecord, runner: Runner, backend: Backend, plan: BackendPlan, relay: string | null): Promise<Result<void>> {
    const { core } = this;
    let started;
    try {
      const written = core.workspaces.writeAgentFiles(agent.agentDir, plan.dirs, plan.files);
      if (!written.ok) return written;
      const placed = runner.place(placementOf(agent));
      if (!placed.ok) return placed;
      // Recorded before anything starts: whoever cleans the agent, after any crash, finds
      // through it whatever of the agent did start (by its cgroup, or its mark).
      const recordedPlace = await core.writeForCall(() => core.store.runs.recordHandle(agent.id, placed.value));
      if (!recordedPlace.ok) return recordedPlace;
      const argv = relay === null || core.bwrap === null ? ok(plan.argv) : this.containedArgv(agent, core.bwrap, plan.argv);
      if (!argv.ok) return argv;
      started = await runner.start(placed.value, {
        // An agent started by an agent server must not inherit that server's token: only its
        // own backend gives it one.
        plan: { argv: argv.value, env: { [AGENT_TOKEN_VARIABLE]: null, [COORDINATOR_TOKEN_VARIABLE]: null, [RELAY_VARIABLE]: relay, ...plan.env }, cwd: agent.cwd, stdinPath: plan.stdin === null ? null : join(agent.agentDir, plan.stdin) },
        logPath: agent.logPath,
      });
    } catch (cause) {
      return fail("LAUNCH_FAILED", describeUnknown(cause));
    }
    if (!started.ok) return started;
    const { handle, root, exited } = started.value;
    failpoint("deploy:after-spawn");
    const recorded = await core.writeForCall(() => core.store.runs.recordLaunch(agent.id, { ...root, handle }, Date.now()));
    if (!recorded.ok) {
      // Unrecorded, it could not be found again by its identity: it goes now.
      await runner.stop(handle, { graceMs: core.graceMs });
      return recorded;
    }
    core.unended.add(agent.id);
    this.launched();
    if (backend.stream.structured) core.streams.follow(agent.id, backend.stream.parseLine);
    const handled = exited
      .then((exit) => (exit === null ? this.endings.onLostExit(agent.id, `the ${runner.kind} runner could not read it`) : this.endings.onExit(agent.id, exit)))
      .catch((cause: unknown) => core.logger.error({ agent: agent.id, err: describeUnknown(cause) }, "recording an exit failed"));
    this.exits.set(agent.id, { runner, handle, handled });
    void handled.finally(() => this.exits.delete(agent.id));
    return ok(undefined);
  }

  /** The agent's argv inside its bubblewrap view (see containedView). */
  private containedArgv(agent: AgentRecord, bwrap: string, argv: readonly string[]): Result<readonly string[]> {
    const { core } = this;
    const [program, ...args] = argv;
    const resolved = program === undefined ? null : findExecutable(program, process.env.PATH, agent.cwd);
    if (resolved === null) return fail("LAUNCH_FAILED", `cannot run ${program ?? "an empty command"}: not found or not executable on PATH`);
    const task = core.store.tasks.get(agent.taskId);
    if (task === null) return fail("UNKNOWN_TASK", `no task ${agent.taskId}`);
    const view = containedView(
      {
        home: core.config.home,
        userHome: homedir(),
        workspace: task.workspace,
        cwd: agent.cwd,
        agentDir: agent.agentDir,
        relayDir: core.workspaces.relayDir(agent.id),
        // The program, the node that runs corral's agent server, and corral itself, wherever
        // they are installed (a home dir too).
        needs: [dirname(realpathSync(resolved)), dirname(process.execPath), corralRoot()],
      },
      core.config,
    );
    if (!view.ok) return view;
    return ok([...bwrapArgv(bwrap, view.value, agent.cwd), resolved, ...args]);
  }
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}
