import type { ExitStatus, TerminalStatus } from "./agent-state.js";

/** What is known about an agent's work when it ends. */
export interface CompletionEvidence {
  readonly status: TerminalStatus;
  readonly exit: ExitStatus | null;
  /** Whether the agent reported status "completed" itself. */
  readonly claimedDone: boolean;
  readonly progressReports: number;
  readonly findings: number;
  /** Files in its working dir modified while it ran; null when not counted. */
  readonly filesChanged: number | null;
  /** Whether its CLI has a structured stream with a final result (claude does, a plain command does not). */
  readonly streamed: boolean;
  readonly result: { readonly isError: boolean; readonly text: string | null } | null;
  readonly corralConnected: boolean | null;
}

export type Confidence = "high" | "medium" | "low" | "none";

export interface Validation {
  readonly confidence: Confidence;
  readonly score: number;
  readonly warnings: readonly string[];
  readonly evidence: CompletionEvidence;
}

/**
 * Turns the evidence into a confidence and warnings. An agent that exited 0 is not taken at
 * its word: every missing piece of evidence is a warning, never a silent pass.
 */
export function validateCompletion(evidence: CompletionEvidence): Validation {
  const warnings: string[] = [];
  let score = 100;
  const warn = (text: string, cost: number): void => {
    warnings.push(text);
    score -= cost;
  };
  if (evidence.status !== "completed") warn(`the agent ended ${evidence.status}, not completed`, 100);
  if (evidence.streamed && evidence.result === null) warn("its output stream has no final result", 40);
  if (evidence.result?.isError === true) warn(`its CLI reported an error: ${evidence.result.text ?? "no detail"}`, 60);
  if (evidence.corralConnected === false) warn("corral's MCP server did not connect: the agent could not report", 30);
  if (!evidence.claimedDone) warn('it never reported status "completed"', 20);
  if (evidence.progressReports === 0) warn("it never reported progress", 20);
  if (evidence.findings === 0 && evidence.filesChanged === 0) warn("it reported no findings and changed no file in its working dir", 20);
  score = Math.max(0, score);
  const confidence: Confidence = score >= 90 ? "high" : score >= 60 ? "medium" : score > 0 ? "low" : "none";
  return { confidence, score, warnings, evidence };
}
