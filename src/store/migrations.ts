/**
 * Schema history. Each entry moves the database from version i to i+1 and runs in one
 * transaction with the PRAGMA user_version bump, so a crash mid-migration changes nothing.
 */
/**
 * Which agents need their coordinator's attention (summaries.ts), as the partial index
 * agents_needing_attention was made with it: changing it takes a migration that makes the
 * index again.
 */
export const ATTENTION_PREDICATE = `(mcp_connected = 0 OR denials > 0 OR stream_errors > 0 OR cleanup_status = 'partial' OR (status = 'running' AND limit_warnings IS NOT NULL AND limit_warnings <> '[]') OR (stuck_since IS NOT NULL AND status IN ('running', 'pending')) OR status IN ('failed', 'crashed', 'timed_out'))`;

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tasks (
    id           TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    priority     TEXT NOT NULL,
    context      TEXT NOT NULL,
    workspace    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    agent_count  INTEGER NOT NULL DEFAULT 0,
    active_count INTEGER NOT NULL DEFAULT 0,
    event_count  INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE agents (
    id               TEXT PRIMARY KEY,
    task_id          TEXT NOT NULL REFERENCES tasks(id),
    type             TEXT NOT NULL,
    parent_id        TEXT REFERENCES agents(id),
    depth            INTEGER NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    backend          TEXT NOT NULL,
    runner           TEXT NOT NULL,
    prompt           TEXT NOT NULL,
    spec             TEXT NOT NULL,
    cwd              TEXT NOT NULL,
    agent_dir        TEXT NOT NULL,
    log_path         TEXT NOT NULL,
    archive_path     TEXT,
    mark             TEXT NOT NULL,
    owner_pid        INTEGER NOT NULL,
    owner_start      TEXT NOT NULL,
    pid              INTEGER,
    proc_start       TEXT,
    pgid             INTEGER,
    sid              INTEGER,
    subreaper        INTEGER NOT NULL DEFAULT 0,
    exit_code        INTEGER,
    exit_signal      TEXT,
    slot_held        INTEGER NOT NULL DEFAULT 1,
    event_count      INTEGER NOT NULL DEFAULT 0,
    progress         INTEGER,
    last_message     TEXT,
    cleanup_status   TEXT NOT NULL DEFAULT 'pending',
    cleanup_claim    TEXT,
    cleanup_attempts INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    ended_at         INTEGER,
    cleaned_at       INTEGER
  );
  CREATE INDEX agents_by_task ON agents(task_id);
  CREATE INDEX agents_by_parent ON agents(parent_id);
  CREATE INDEX agents_holding_slot ON agents(slot_held) WHERE slot_held = 1;
  CREATE INDEX agents_cleanup_open ON agents(cleanup_status) WHERE cleanup_status <> 'done';

  CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id  TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    data     TEXT NOT NULL
  );
  CREATE INDEX events_by_agent ON events(agent_id, id);
  CREATE INDEX events_by_task ON events(task_id, id);

  CREATE TABLE cleanup_steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    step        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    error       TEXT,
    started_at  INTEGER NOT NULL,
    duration_ms REAL NOT NULL
  );
  CREATE INDEX cleanup_steps_by_agent ON cleanup_steps(agent_id, id);
  `,
  // The agent server's credential, and what the agent's output stream has told so far.
  `
  ALTER TABLE agents ADD COLUMN token_hash TEXT;
  CREATE UNIQUE INDEX agents_by_token ON agents(token_hash) WHERE token_hash IS NOT NULL;
  ALTER TABLE agents ADD COLUMN claimed_done INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN stream_offset INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN session_id TEXT;
  ALTER TABLE agents ADD COLUMN model TEXT;
  ALTER TABLE agents ADD COLUMN mcp_connected INTEGER;
  ALTER TABLE agents ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN cost_usd REAL;
  ALTER TABLE agents ADD COLUMN num_turns INTEGER;
  ALTER TABLE agents ADD COLUMN tool_calls INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN denials INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN stream_errors INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN result_text TEXT;
  ALTER TABLE agents ADD COLUMN result_is_error INTEGER;
  ALTER TABLE agents ADD COLUMN validation TEXT;
  `,
  // When the agent last reported, and what the reaper noticed.
  `
  ALTER TABLE agents ADD COLUMN last_event_at INTEGER;
  ALTER TABLE agents ADD COLUMN stuck_since INTEGER;
  ALTER TABLE agents ADD COLUMN limit_warnings TEXT;
  `,
  // Where the agent's CLI kept its own transcript, removed with the archive.
  `
  ALTER TABLE agents ADD COLUMN transcript_path TEXT;
  `,
  // The agent's own cgroup, recorded before its process starts, so whoever cleans it (the
  // corral that adopted it too) kills and removes it through the cgroup.
  `
  ALTER TABLE agents ADD COLUMN cgroup TEXT;
  `,
  // The runner's handle: what the agent's runner keeps to find it again, JSON of the runner's
  // own shape. A row from before gets the local runners' handle made of the columns it takes
  // over (the mark's variable is CORRAL_MARK; tmux's keeper writes to the agent dir).
  `
  ALTER TABLE agents ADD COLUMN handle TEXT;
  UPDATE agents SET handle = json_object(
    'runner', runner, 'name', id, 'mark', 'CORRAL_MARK=' || mark, 'cgroup', cgroup,
    'root', json(CASE WHEN pid IS NULL OR proc_start IS NULL THEN NULL ELSE json_object(
      'pid', pid, 'startTime', proc_start, 'sid', coalesce(sid, pid), 'subreaper', json(CASE subreaper WHEN 1 THEN 'true' ELSE 'false' END)
    ) END)
  );
  UPDATE agents SET handle = json_set(handle, '$.statusFile', agent_dir || '/tmux-exit-status') WHERE runner = 'tmux';
  ALTER TABLE agents DROP COLUMN pgid;
  ALTER TABLE agents DROP COLUMN sid;
  ALTER TABLE agents DROP COLUMN subreaper;
  ALTER TABLE agents DROP COLUMN cgroup;
  `,
  // Where the agent's CLI calls its corral tools over HTTP: the port of the corral that
  // launched it, which a corral adopting the agent listens on again.
  `
  ALTER TABLE agents ADD COLUMN tools_url TEXT;
  `,
  // Lists page in creation order from the key of the last row sent, and a status's figures
  // are read from indexes alone: a task of ten thousand agents is never read whole.
  `
  CREATE INDEX agents_by_task_created ON agents(task_id, created_at, id);
  CREATE INDEX agents_tally ON agents(task_id, status, cost_usd, input_tokens, output_tokens, tool_calls);
  CREATE INDEX agents_needing_attention ON agents(task_id, created_at, id) WHERE ${ATTENTION_PREDICATE};
  CREATE INDEX agents_by_created ON agents(created_at, id);
  CREATE INDEX agents_by_cleanup ON agents(cleanup_status);
  DROP INDEX agents_cleanup_open;
  DROP INDEX agents_by_task;
  CREATE INDEX tasks_by_created ON tasks(created_at, id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
