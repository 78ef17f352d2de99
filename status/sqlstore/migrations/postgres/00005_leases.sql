-- Replicas: the leader lease, renewed in short transactions, and every
-- replica's heartbeat. Keep this file in step with
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

-- +goose Down
DROP TABLE replicas;
DROP TABLE leases;
