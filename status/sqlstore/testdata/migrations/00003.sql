-- Fixture for schema version 3 (migrations/*/00003_retention.sql): a run
-- whose files retention removed beside one that still has them. The rules
-- of 00001.sql hold here too: one file for both dialects, never edited to
-- suit a later migration.

INSERT INTO runs (id, pipeline, status, error_type, exit_code, message, revision, trigger_type, triggered_by, attempt, retry_of,
        container_id, parameters, env_names, queued_at, started_at, finished_at, uv_version, setup_duration_us,
        peak_cpu_percent, peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path,
        admitted, not_before, request_env, log_incomplete, log_removed_at, log_removed_reason) VALUES
    ('0195f000-0000-7000-8000-000000000301', 'nightly', 'SUCCESS', '', 0, '',
        'main@sha1:dddddddddddddddddddddddddddddddddddddddd', 'schedule', 'scheduler', 1, NULL, 'c0ffee31', '{}', '[]',
        '2025-04-01T02:00:00.000000Z', '2025-04-01T02:00:01.000000Z', '2025-04-01T02:00:09.000000Z', 'uv 0.9.4', 1000000,
        12.5, 2097152, FALSE, '', '',
        TRUE, NULL, '{}', FALSE, '2025-05-01T03:00:00.000000Z', 'LOG_RETENTION_DAYS'),
    ('0195f000-0000-7000-8000-000000000302', 'nightly', 'SUCCESS', '', 0, '',
        'main@sha1:dddddddddddddddddddddddddddddddddddddddd', 'schedule', 'scheduler', 1, NULL, 'c0ffee32', '{}', '[]',
        '2025-04-02T02:00:00.000000Z', '2025-04-02T02:00:01.000000Z', '2025-04-02T02:00:09.000000Z', 'uv 0.9.4', 1000000,
        12.5, 2097152, FALSE, '/data/logs/302.log', '/data/logs/302.metrics.jsonl',
        TRUE, NULL, '{}', FALSE, NULL, '');
