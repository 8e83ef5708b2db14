import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBackend } from "../../src/backends/registry.js";
import { unwrap } from "../../src/domain/errors.js";
import { startCoordinator, type Coordinator } from "../helpers/mcp-client.js";
import { scenariosFor, Session, type Act, type BackendDriver } from "./scenarios.js";

const quoted = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;

/** The shell script that acts out `acts`: a command agent has no corral tools, so only what a program can do. */
function script(acts: readonly Act[]): string {
  return acts
    .map((act) => {
      if ("say" in act) return `echo ${quoted(act.say)}`;
      if ("mark" in act) return `touch ${act.mark}`;
      if ("awaitMark" in act) return `for i in $(seq 300); do [ -e ${act.awaitMark} ] && break; sleep 0.2; done; sleep 5`;
      if ("hang" in act) return "exec sleep 300";
      if ("fail" in act) return `echo ${quoted(act.fail)} >&2; exit 3`;
      throw new Error(`a command agent cannot ${Object.keys(act)[0]}: it has no corral tools`);
    })
    .join("\n");
}

const driver: BackendDriver = {
  backend: "command",
  capabilities: unwrap(findBackend("command")).capabilities,
  structuredStream: false,
  callsTools: false,
  deployArgs: (mission, acts) => ({ backend: "command", prompt: mission, command: ["bash", "-c", script(acts)] }),
};

let c: Coordinator;
let session: Session;

beforeAll(async () => {
  c = await startCoordinator();
  const { task_id } = await c.call<{ task_id: string }>("create_real_task", { description: "command end-to-end run" });
  session = new Session(c, task_id, driver);
});

afterAll(async () => {
  await c?.close();
});

describe("the command backend, end to end: programs run through corral serve", () => {
  scenariosFor(driver, () => session);

  it("gives the program its prompt on stdin and in the file CORRAL_PROMPT_FILE names", async () => {
    const agent = await session.deployWith("reader", {
      backend: "command",
      prompt: "the mission text",
      command: ["bash", "-c", 'echo "stdin: $(cat)"; echo "file: $(cat "$CORRAL_PROMPT_FILE")"; echo "agent: $CORRAL_AGENT_ID"'],
    });
    await session.waitFor([agent.agent_id]);
    await session.cleaned(agent.agent_id);
    const output = await session.output(agent.agent_id);
    expect(output.text).toContain("stdin: the mission text");
    expect(output.text).toContain("file: the mission text");
    expect(output.text).toContain(`agent: ${agent.agent_id}`);
  });
});
