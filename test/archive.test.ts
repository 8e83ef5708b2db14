import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { archiveLog } from "../src/lifecycle/archive.js";

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
