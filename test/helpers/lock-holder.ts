import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";

const WORKERS = join(import.meta.dirname, "..", "..", "dist", "test", "fixtures", "workers");

export interface HeldLock {
  readonly pid: number;
  /** Lets go of the lock and waits for the holder to exit. */
  release(): Promise<void>;
}

/** Another OS process takes the database's write lock (BEGIN EXCLUSIVE) and holds it until released. */
export async function holdWriteLock(dbPath: string): Promise<HeldLock> {
  const child = spawn(process.execPath, [join(WORKERS, "hold-lock.js"), dbPath], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = once(child, "exit");
  const [line] = (await Promise.race([once(child.stdout, "data"), exited.then(() => [Buffer.from("exited")])])) as [Buffer];
  if (line.toString().trim() !== "locked") throw new Error(`the lock holder did not take the lock: ${line.toString()}`);
  let released: Promise<void> | null = null;
  return {
    pid: child.pid as number,
    release() {
      released ??= (async () => {
        child.stdin.end();
        await exited;
      })();
      return released;
    },
  };
}
