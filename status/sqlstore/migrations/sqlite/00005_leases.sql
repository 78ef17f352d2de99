-- Replicas: the leader lease, renewed in short transactions, and every
-- replica's heartbeat. Keep this file in step with
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

-- +goose Down
DROP TABLE replicas;
DROP TABLE leases;
