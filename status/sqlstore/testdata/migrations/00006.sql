-- Fixture for schema version 6 (migrations/*/00006_retention_indexes.sql):
-- two finished runs of a scheduled pipeline, each with the schedule fire
-- that made it, and a skipped fire that made none. It writes only columns
-- of 00001-00003, so it holds whatever 00004 and 00005 add beside them. The
-- rules of 00001.sql hold here too: one file for both dialects, never
-- edited to suit a later migration.

INSERT INTO runs (id, pipeline, status, error_type, exit_code, message, revision, trigger_type, triggered_by, attempt, retry_of,
        container_id, parameters, env_names, queued_at, started_at, finished_at, uv_version, setup_duration_us,
        peak_cpu_percent, peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path,
        admitted, not_before, request_env, log_incomplete, log_removed_at, log_removed_reason) VALUES
    ('0195f000-0000-7000-8000-000000000601', 'weekly', 'SUCCESS', '', 0, '',
        'main@sha1:6666666666666666666666666666666666666666', 'schedule', 'scheduler', 1, NULL, 'c0ffee61', '{}', '[]',
        '2025-06-01T02:00:00.000000Z', '2025-06-01T02:00:01.000000Z', '2025-06-01T02:00:09.000000Z', 'uv 0.9.5', 1000000,
        12.5, 2097152, FALSE, '/data/logs/601.log', '/data/logs/601.metrics.jsonl',
        TRUE, NULL, '{}', FALSE, NULL, ''),
    ('0195f000-0000-7000-8000-000000000602', 'weekly', 'FAILED', 'EXIT_CODE', 1, 'exit code 1',
        'main@sha1:6666666666666666666666666666666666666666', 'schedule', 'scheduler', 1, NULL, 'c0ffee62', '{}', '[]',
        '2025-06-08T02:00:00.000000Z', '2025-06-08T02:00:01.000000Z', '2025-06-08T02:00:09.000000Z', 'uv 0.9.5', 1000000,
        12.5, 2097152, FALSE, '/data/logs/602.log', '/data/logs/602.metrics.jsonl',
        TRUE, NULL, '{}', FALSE, NULL, '');

INSERT INTO schedule_fires (fire_key, pipeline, fire_at, run_id, created_at) VALUES
    ('weekly|cron:0 2 * * 0|2025-06-01T02:00:00Z', 'weekly', '2025-06-01T02:00:00.000000Z', '0195f000-0000-7000-8000-000000000601', '2025-06-01T02:00:00.010000Z'),
    ('weekly|cron:0 2 * * 0|2025-06-08T02:00:00Z', 'weekly', '2025-06-08T02:00:00.000000Z', '0195f000-0000-7000-8000-000000000602', '2025-06-08T02:00:00.010000Z'),
    ('weekly|cron:0 2 * * 0|2025-06-15T02:00:00Z', 'weekly', '2025-06-15T02:00:00.000000Z', '', '2025-06-15T02:00:00.010000Z');
