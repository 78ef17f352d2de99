-- Fast-Flow schema, SQLite flavour. Times are TEXT in the fixed-width UTC
-- form 2006-01-02T15:04:05.000000Z so that text order is time order.
-- STRICT tables make SQLite refuse values of the wrong type, as PostgreSQL
-- does. Keep this file in step with ../postgres/00001_init.sql.

-- +goose Up
CREATE TABLE sync_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger_type   TEXT    NOT NULL DEFAULT '',
    started_at     TEXT    NOT NULL,
    finished_at    TEXT,
    revision       TEXT    NOT NULL DEFAULT '',
    branch         TEXT    NOT NULL DEFAULT '',
    commit_message TEXT    NOT NULL DEFAULT '',
    outcome        TEXT    NOT NULL,
    pipelines      INTEGER NOT NULL DEFAULT 0,
    problems       INTEGER NOT NULL DEFAULT 0,
    error          TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sync_events_started ON sync_events (started_at, id);

CREATE TABLE runs (
    id                  TEXT    PRIMARY KEY,
    pipeline            TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    error_type          TEXT    NOT NULL DEFAULT '',
    exit_code           INTEGER,
    message             TEXT    NOT NULL DEFAULT '',
    revision            TEXT    NOT NULL DEFAULT '',
    trigger_type        TEXT    NOT NULL DEFAULT '',
    triggered_by        TEXT    NOT NULL DEFAULT '',
    attempt             INTEGER NOT NULL DEFAULT 1,
    retry_of            TEXT    REFERENCES runs (id) ON DELETE SET NULL,
    container_id        TEXT    NOT NULL DEFAULT '',
    parameters          TEXT    NOT NULL DEFAULT '{}',
    env_names           TEXT    NOT NULL DEFAULT '[]',
    queued_at           TEXT    NOT NULL,
    started_at          TEXT,
    finished_at         TEXT,
    uv_version          TEXT    NOT NULL DEFAULT '',
    setup_duration_us   INTEGER NOT NULL DEFAULT 0,
    peak_cpu_percent    REAL    NOT NULL DEFAULT 0,
    peak_ram_bytes      INTEGER NOT NULL DEFAULT 0,
    soft_limit_exceeded INTEGER NOT NULL DEFAULT 0,
    log_path            TEXT    NOT NULL DEFAULT '',
    metrics_path        TEXT    NOT NULL DEFAULT ''
) STRICT;
-- Keyset pagination walks (queued_at, id), optionally within one pipeline
-- or status; the partial index serves ActiveRevisions and reconciliation.
CREATE INDEX runs_queued ON runs (queued_at, id);
CREATE INDEX runs_pipeline_queued ON runs (pipeline, queued_at, id);
CREATE INDEX runs_status_queued ON runs (status, queued_at, id);
CREATE INDEX runs_active_revision ON runs (revision) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX runs_retry_of ON runs (retry_of) WHERE retry_of IS NOT NULL;

CREATE TABLE pipelines (
    name              TEXT    PRIMARY KEY,
    has_requirements  INTEGER NOT NULL DEFAULT 0,
    requirements_hash TEXT    NOT NULL DEFAULT '',
    last_cache_warmup TEXT,
    cache_status      TEXT    NOT NULL DEFAULT '',
    cache_output      TEXT    NOT NULL DEFAULT '',
    total_runs        INTEGER NOT NULL DEFAULT 0,
    successful_runs   INTEGER NOT NULL DEFAULT 0,
    failed_runs       INTEGER NOT NULL DEFAULT 0,
    counters_reset_at TEXT
) STRICT;

CREATE TABLE schedule_states (
    pipeline     TEXT NOT NULL,
    schedule_key TEXT NOT NULL,
    last_fire    TEXT,
    next_fire    TEXT,
    PRIMARY KEY (pipeline, schedule_key)
) STRICT;

CREATE TABLE schedule_fires (
    fire_key   TEXT PRIMARY KEY,
    pipeline   TEXT NOT NULL,
    fire_at    TEXT NOT NULL,
    run_id     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX schedule_fires_created ON schedule_fires (created_at);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL DEFAULT '',
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    revoked_at TEXT
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    event       TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE secrets;
DROP TABLE schedule_fires;
DROP TABLE schedule_states;
DROP TABLE pipelines;
DROP TABLE runs;
DROP TABLE sync_events;
