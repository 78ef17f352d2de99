-- Notifications: one row per run and notify target, delivered by the
-- operator's notifier with retries. The unique key makes a run notified at
-- most once per target; rows go with their run. Keep this file in step
-- with ../postgres/00004_notifications.sql.

-- +goose Up
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    target          TEXT    NOT NULL,
    format          TEXT    NOT NULL,
    signing_secret  TEXT    NOT NULL DEFAULT '',
    event           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    delivered_at    TEXT,
    UNIQUE (run_id, target)
) STRICT;
-- The notifier's claim walks the pending rows by due time.
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';

-- +goose Down
DROP TABLE notifications;
