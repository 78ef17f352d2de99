-- Replicas: the leader lease, renewed in short transactions, every
-- replica's heartbeat, and the replica that executes each run. Keep this file in step with
-- ../sqlite/00005_leases.sql.

-- +goose Up
CREATE TABLE leases (
    name        TEXT COLLATE "C" PRIMARY KEY,
    holder      TEXT COLLATE "C" NOT NULL,
    term        BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE replicas (
    id         TEXT COLLATE "C" PRIMARY KEY,
    host       TEXT COLLATE "C" NOT NULL DEFAULT '',
    version    TEXT COLLATE "C" NOT NULL DEFAULT '',
    started_at TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL
);

ALTER TABLE runs ADD COLUMN replica_id TEXT COLLATE "C" NOT NULL DEFAULT '';
-- Start-up reconciliation and the leader's look for runs of dead replicas
-- read the active runs by replica.
CREATE INDEX runs_active_replica ON runs (replica_id) WHERE status IN ('PENDING', 'RUNNING');

-- +goose Down
DROP INDEX runs_active_replica;
ALTER TABLE runs DROP COLUMN replica_id;
DROP TABLE replicas;
DROP TABLE leases;
