-- Indexes for the retention sweep. Deleting a batch of runs deletes their
-- schedule fires by run_id, which without an index scans every fire once
-- per batch: with a scheduled pipeline that is one fire per run, so a
-- sweep over 100,000 runs read the whole table 200 times.
--
-- runs_with_files holds only the runs whose log or metrics files are still
-- on disk, so the sweep for LOG_RETENTION_RUNS/_DAYS, which runs after
-- every finished run, walks those and not every older run of the pipeline
-- whose files went long ago. runs.retry_of, which the sweep and the
-- ON DELETE SET NULL of runs' own foreign key look up, is indexed since
-- 00001. Keep this file in step with ../sqlite/00006_retention_indexes.sql.

-- +goose Up
CREATE INDEX schedule_fires_run ON schedule_fires (run_id);
CREATE INDEX runs_with_files ON runs (pipeline, queued_at, id)
    WHERE log_removed_at IS NULL AND (log_path <> '' OR metrics_path <> '');

-- +goose Down
DROP INDEX runs_with_files;
DROP INDEX schedule_fires_run;
