-- Retention: a run whose log and metrics files were removed keeps its row
-- with the file paths cleared and the time and reason recorded, so pages
-- and the API can say so. Keep this file in step with
-- ../sqlite/00003_retention.sql.

-- +goose Up
ALTER TABLE runs
    ADD COLUMN log_removed_at     TIMESTAMPTZ,
    ADD COLUMN log_removed_reason TEXT COLLATE "C" NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE runs DROP COLUMN log_removed_reason, DROP COLUMN log_removed_at;
