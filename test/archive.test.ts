import { execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { unwrap } from "../src/domain/errors.js";
import { archiveLog } from "../src/lifecycle/archive.js";
import { openCorral } from "./helpers/sandbox.js";

const dir = () => mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "archive-"));

describe("archiving a log", () => {
  it("writes a gzip file that gunzip reads back byte for byte, across many chunks", async () => {
    const d = dir();
    // 3.5 MiB mixing text and noise, so that chunks both compress and do not.
    const parts: Buffer[] = [];
    for (let i = 0; i < 35; i += 1) {
      parts.push(Buffer.from(`line ${i} `.repeat(5000).slice(0, 50_000)));
      parts.push(Buffer.from(Array.from({ length: 54_857 }, (_, j) => (j * 7919 + i * 104_729) % 251)));
    }
    const content = Buffer.concat(parts);
    writeFileSync(join(d, "a.log"), content);
    const result = await archiveLog(join(d, "a.log"), join(d, "a.log.gz"));
    expect(result).toMatchObject({ bytes: content.length, alreadyArchived: false });
    const archived = readFileSync(join(d, "a.log.gz"));
    expect(gunzipSync(archived).equals(content)).toBe(true);
    expect(execFileSync("gzip", ["-dc", join(d, "a.log.gz")], { maxBuffer: 16 << 20 }).equals(content)).toBe(true);
    expect(existsSync(join(d, "a.log"))).toBe(false);
    expect(existsSync(join(d, "a.log.gz.partial"))).toBe(false);
  });

  it("archives a missing log as an empty archive, and does not redo a finished one", async () => {
    const d = dir();
    const first = await archiveLog(join(d, "none.log"), join(d, "none.log.gz"));
    expect(first).toMatchObject({ bytes: 0, alreadyArchived: false });
    expect(gunzipSync(readFileSync(join(d, "none.log.gz"))).length).toBe(0);
    const again = await archiveLog(join(d, "none.log"), join(d, "none.log.gz"));
    expect(again.alreadyArchived).toBe(true);
  });
});

describe("reading an archive", () => {
  it("reads the tail and summary of an archive larger than any buffer, by streaming it", async () => {
    const corral = openCorral();
    try {
      const task = unwrap(corral.createTask({ description: "big archive" }));
      const agent = unwrap(await corral.deploy({ taskId: task.id, agentType: "w", prompt: "p", command: ["true"] }));
      const ended = await corral.whenCleaned(agent.id);
      expect(ended.archivePath).not.toBeNull();
      // 600 MiB of output as one archive: gzip members simply follow one another, so one
      // compressed MiB written 600 times is a valid archive of all of them.
      const mib = Buffer.from(`${"noise ".repeat(170)}\n`.repeat(1028));
      const member = gzipSync(mib, { level: 1 });
      const total = 600 * mib.length + 13;
      expect(total).toBeGreaterThan(600 * 1024 * 1024);
      const last = gzipSync(Buffer.from("the very end\n"));
      const fd = openSync(ended.archivePath as string, "w");
      for (let i = 0; i < 600; i += 1) writeSync(fd, member);
      writeSync(fd, last);
      closeSync(fd);

      const tail = unwrap(await corral.output(task.id, agent.id, { tail: 2 }));
      expect(tail).toMatchObject({ source: "archive", totalBytes: total, truncated: true });
      expect(tail.text?.endsWith("the very end\n")).toBe(true);
      const summary = unwrap(await corral.output(task.id, agent.id, { responseFormat: "summary" }));
      expect(summary.summary?.lastLines.at(-1)).toBe("the very end");
      expect(summary.summary?.bytes).toBe(total);
    } finally {
      await corral.shutdown("test over");
    }
  });
});
