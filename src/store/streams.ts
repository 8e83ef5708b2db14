import type { AgentId, TaskId } from "../domain/ids.js";
import type { Db } from "./database.js";
import type { WriteGuard } from "./guard.js";

/** What a stretch of an agent's output stream adds to its totals. */
export interface StreamDelta {
  readonly sessionId?: string;
  readonly model?: string | null;
  readonly corralConnected?: boolean | null;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd?: number | null;
  readonly numTurns?: number | null;
  readonly toolCalls: number;
  readonly denials: number;
  readonly errors: number;
  readonly lastText?: string;
  readonly result?: { readonly text: string | null; readonly isError: boolean };
  /** The run's own totals, from its final result: they replace the running sums. */
  readonly totalTokens?: { readonly input: number; readonly output: number };
}

type StreamAgent = { readonly id: AgentId; readonly taskId: TaskId };

/** How far each agent's log has been read, and the running totals of what it said. */
export class StreamTotals {
  private readonly applyTx: (agent: StreamAgent, from: number, to: number, delta: StreamDelta, events: readonly unknown[], at: number) => boolean;

  constructor(db: Db, guard: WriteGuard) {
    const advance = db.prepare(
      `UPDATE agents SET stream_offset = @to,
         session_id = COALESCE(@sessionId, session_id), model = COALESCE(@model, model),
         mcp_connected = COALESCE(@corralConnected, mcp_connected),
         input_tokens = CASE WHEN @totalInput IS NULL THEN input_tokens + @inputTokens ELSE @totalInput END,
         output_tokens = CASE WHEN @totalOutput IS NULL THEN output_tokens + @outputTokens ELSE @totalOutput END,
         cost_usd = COALESCE(@costUsd, cost_usd), num_turns = COALESCE(@numTurns, num_turns),
         tool_calls = tool_calls + @toolCalls, denials = denials + @denials, stream_errors = stream_errors + @errors,
         last_message = COALESCE(@lastText, last_message),
         result_text = CASE WHEN @hasResult = 1 THEN @resultText ELSE result_text END,
         result_is_error = CASE WHEN @hasResult = 1 THEN @resultIsError ELSE result_is_error END
       WHERE id = @id AND stream_offset = @from`,
    );
    const insertEvent = db.prepare(`INSERT INTO events (task_id, agent_id, kind, at, data) VALUES (?, ?, 'stream', ?, ?)`);
    const bumpCounts = db.prepare(`UPDATE agents SET event_count = event_count + ? WHERE id = ?`);
    const bumpTaskEvents = db.prepare(`UPDATE tasks SET event_count = event_count + ? WHERE id = ?`);
    // The offset is the guard: two processes reading the same log cannot both count a stretch.
    const apply = db.transaction(
      (agent: StreamAgent, from: number, to: number, delta: StreamDelta, events: readonly unknown[], at: number): boolean => {
        const changed = advance.run({
          id: agent.id,
          from,
          to,
          sessionId: delta.sessionId ?? null,
          model: delta.model ?? null,
          corralConnected: delta.corralConnected === undefined || delta.corralConnected === null ? null : delta.corralConnected ? 1 : 0,
          inputTokens: delta.inputTokens,
          outputTokens: delta.outputTokens,
          totalInput: delta.totalTokens?.input ?? null,
          totalOutput: delta.totalTokens?.output ?? null,
          costUsd: delta.costUsd ?? null,
          numTurns: delta.numTurns ?? null,
          toolCalls: delta.toolCalls,
          denials: delta.denials,
          errors: delta.errors,
          lastText: delta.lastText ?? null,
          hasResult: delta.result === undefined ? 0 : 1,
          resultText: delta.result?.text ?? null,
          resultIsError: delta.result?.isError === true ? 1 : 0,
        });
        if (changed.changes !== 1) return false;
        for (const event of events) insertEvent.run(agent.taskId, agent.id, at, JSON.stringify(event));
        if (events.length > 0) {
          bumpCounts.run(events.length, agent.id);
          bumpTaskEvents.run(events.length, agent.taskId);
        }
        return true;
      },
    );
    this.applyTx = (agent, from, to, delta, events, at) => guard(() => apply.immediate(agent, from, to, delta, events, at));
  }

  /**
   * Adds what the log between `from` and `to` said, with its events, if no one else has yet:
   * false when the stored offset is no longer `from`.
   */
  apply(agent: StreamAgent, from: number, to: number, delta: StreamDelta, events: readonly unknown[], at: number): boolean {
    return this.applyTx(agent, from, to, delta, events, at);
  }
}
