-- Admission in the database: which runs hold one of the
-- MAX_CONCURRENT_RUNS slots, the queue, the request env a queued run needs
-- when it starts later, and counters for the runs someone stopped. Keep
-- this file in step with ../postgres/00002_admission.sql.

-- +goose Up
ALTER TABLE runs ADD COLUMN admitted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN not_before TEXT;
ALTER TABLE runs ADD COLUMN request_env TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN log_incomplete INTEGER NOT NULL DEFAULT 0;

-- Before this migration a RUNNING run, and a PENDING one that already has a
-- container, was started by an operator and so holds a slot; any other
-- PENDING run is still waiting and joins the queue.
UPDATE runs SET admitted = TRUE
    WHERE status = 'RUNNING' OR (status = 'PENDING' AND container_id <> '');

-- The queue query (status = 'PENDING' AND NOT admitted, in (queued_at, id)
-- order) and the slot count (RUNNING, or PENDING and admitted) need no new
-- index: runs_status_queued (status, queued_at, id) serves both, touching
-- only PENDING and RUNNING rows, which are few whatever the history. A
-- partial index on exactly the queue was tried; SQLite's planner keeps
-- choosing runs_status_queued, so it would only cost writes.

-- The Forbid policy asks whether a pipeline has a PENDING or RUNNING run.
CREATE INDEX runs_active_pipeline ON runs (pipeline)
    WHERE status IN ('PENDING', 'RUNNING');

ALTER TABLE pipelines ADD COLUMN cancelled_runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN interrupted_runs INTEGER NOT NULL DEFAULT 0;

-- +goose Down
DROP INDEX runs_active_pipeline;
ALTER TABLE pipelines DROP COLUMN interrupted_runs;
ALTER TABLE pipelines DROP COLUMN cancelled_runs;
ALTER TABLE runs DROP COLUMN log_incomplete;
ALTER TABLE runs DROP COLUMN request_env;
ALTER TABLE runs DROP COLUMN not_before;
ALTER TABLE runs DROP COLUMN admitted;
