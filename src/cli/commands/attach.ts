import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Command } from "commander";
import { die } from "../exit.js";
import { withCorral } from "../session.js";
import { listenForStop, signalExitCode } from "../signals.js";

/** Variables that would make tmux think it is nested in the user's own session. */
const NESTING = ["TMUX", "TMUX_PANE"];

export function registerAttach(program: Command): void {
  program
    .command("attach")
    .description("watch a tmux agent live in its tmux session, read-only (detach with C-b d; stop it with corral kill)")
    .argument("<agent>", "an agent id deployed with runner tmux")
    .action(async (id: string) => {
      const command = await withCorral((corral) => corral.attachCommand(id));
      if (!command.ok) die(command.error, 1);
      if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) {
        die({ code: "NOT_ATTACHABLE", message: "corral attach needs a terminal on stdin and stdout" }, 1);
      }
      const [file, ...args] = command.value;
      const env = { ...process.env };
      for (const name of NESTING) delete env[name];
      const tmux = spawn(file as string, args, { stdio: "inherit", env });
      // A signal detaches the tmux client (it would stay on the terminal without corral), then
      // corral exits as that signal ended it. SIGINT is forwarded as SIGTERM: tmux ignores it.
      const stop = listenForStop((signal) => tmux.kill(signal === "SIGHUP" ? "SIGHUP" : "SIGTERM"));
      const code = await new Promise<number>((resolve) => {
        tmux.once("error", (cause) => {
          process.stderr.write(`corral: cannot run ${file}: ${cause.message}\n`);
          resolve(2);
        });
        // A death by signal N exits 128+N, as a shell reports it.
        tmux.once("exit", (exitCode, signal) => resolve(exitCode ?? 128 + (signal === null ? 0 : constants.signals[signal])));
      });
      stop.dispose();
      const signal = stop.signal();
      process.exitCode = signal === null ? code : signalExitCode(signal);
    });
}
