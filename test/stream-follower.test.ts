import Database from "better-sqlite3";
import { appendFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AgentId } from "../src/domain/ids.js";
import type { StreamEvent } from "../src/domain/stream-events.js";
import { unwrap } from "../src/domain/errors.js";
import { createLogger } from "../src/lifecycle/logger.js";
import { StreamFollower } from "../src/lifecycle/stream-follower.js";
import type { Store } from "../src/store/store.js";
import { agentRow, ROOMY_LIMITS, taskRow, TEST_TASK } from "./helpers/builders.js";
import { withFreshStore } from "./helpers/store.js";

const ID = "w-000000-00000a" as AgentId;
/** Every line is a text event: what a line says does not matter here, only which lines are read. */
const eachLine = (line: string): StreamEvent[] => (line === "" ? [] : [{ kind: "text", text: line }]);

/** A follower whose timer never fires in a test: the test makes each look itself. */
function followed(store: Store, path: string): { follower: StreamFollower; log: string } {
  const log = join(dirname(path), "agent.log");
  writeFileSync(log, "");
  store.tasks.insert(taskRow());
  unwrap(store.agents.insert(agentRow(TEST_TASK, { pid: 1, startTime: "1" }, { id: ID, logPath: log }), ROOMY_LIMITS));
  const follower = new StreamFollower(store, createLogger("silent"), 3_600_000);
  follower.follow(ID, eachLine);
  return { follower, log };
}

const texts = (store: Store): string[] => store.events.forAgent(ID).map((e) => (e.data as { text: string }).text);

describe("following an agent's stream", () => {
  it("reads only the bytes written since the last look, whole lines only", () => {
    withFreshStore((store, path) => {
      const { follower, log } = followed(store, path);
      appendFileSync(log, "one\ntw");
      follower.poll();
      expect(texts(store)).toEqual(["one"]);
      appendFileSync(log, "o\nthree\n");
      follower.poll();
      expect(texts(store)).toEqual(["one", "two", "three"]);
      expect(store.agents.get(ID)?.stream.offset).toBe(Buffer.byteLength("one\ntwo\nthree\n"));
      follower.stop();
    });
  });

  it("does not read a log that has not grown, nor its agent's row, whatever the row says", () => {
    withFreshStore((store, path) => {
      const { follower, log } = followed(store, path);
      appendFileSync(log, "one\n");
      follower.poll();
      // Another process winds the stored offset back: a read now would store the line again.
      const other = new Database(path);
      other.prepare("UPDATE agents SET stream_offset = 0 WHERE id = ?").run(ID);
      other.close();
      follower.poll();
      follower.poll();
      expect(texts(store)).toEqual(["one"]);
      // Once the log grows it is read again, from where the row says.
      appendFileSync(log, "two\n");
      follower.poll();
      expect(texts(store)).toEqual(["one", "one", "two"]);
      follower.stop();
    });
  });

  it("leaves a last line without its newline until the line is whole", () => {
    withFreshStore((store, path) => {
      const { follower, log } = followed(store, path);
      appendFileSync(log, "partial");
      follower.poll();
      follower.poll();
      expect(texts(store)).toEqual([]);
      appendFileSync(log, " line\n");
      follower.poll();
      expect(texts(store)).toEqual(["partial line"]);
      follower.stop();
    });
  });
});
