-- Retention: a run whose log and metrics files were removed keeps its row
-- with the file paths cleared and the time and reason recorded, so pages
-- and the API can say so. Keep this file in step with
-- ../postgres/00003_retention.sql.

-- +goose Up
ALTER TABLE runs ADD COLUMN log_removed_at TEXT;
ALTER TABLE runs ADD COLUMN log_removed_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE runs DROP COLUMN log_removed_reason;
ALTER TABLE runs DROP COLUMN log_removed_at;
