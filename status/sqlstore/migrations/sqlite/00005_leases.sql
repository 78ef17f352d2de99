-- Replicas: the leader lease, renewed in short transactions, every
-- replica's heartbeat, and the replica that executes each run. Keep this file in step with
-- ../postgres/00005_leases.sql.

-- +goose Up
CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    term        INTEGER NOT NULL,
    acquired_at TEXT    NOT NULL,
    renewed_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL
) STRICT;

CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL DEFAULT '',
    version    TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL
) STRICT;

ALTER TABLE runs ADD COLUMN replica_id TEXT NOT NULL DEFAULT '';
-- Start-up reconciliation and the leader's look for runs of dead replicas
-- read the active runs by replica.
CREATE INDEX runs_active_replica ON runs (replica_id) WHERE status IN ('PENDING', 'RUNNING');

-- +goose Down
DROP INDEX runs_active_replica;
ALTER TABLE runs DROP COLUMN replica_id;
DROP TABLE replicas;
DROP TABLE leases;
