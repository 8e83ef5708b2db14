import type { RunnerKind } from "../domain/config.js";

/**
 * What a terminal adds to output: escape sequences (CSI, OSC and the other string sequences,
 * two- and three-byte escapes) and the C0 control characters but tab. A CLI on a terminal
 * writes them to set up and restore the screen; no JSON line holds one raw (JSON escapes them).
 */
const TERMINAL_CONTROLS = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[ -/]*[0-~]|[\x00-\x08\x0b-\x1f\x7f]/g;

/**
 * The lines of an agent's log. A tmux agent's log is what its pane's terminal showed: lines
 * end in CR LF, and the terminal's control sequences are the runner's, never evidence about
 * the agent, so they are removed, and a line that held nothing else is dropped. A plain
 * process's log is its output as written, less the CR of a CR LF ending.
 */
export function logLines(text: string, runner: RunnerKind): string[] {
  const lines = text.split("\n");
  if (runner === "process") return lines.map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
  return lines.flatMap((line) => {
    const clean = line.replace(TERMINAL_CONTROLS, "");
    return clean === "" && line !== "" ? [] : [clean];
  });
}
