-- Fixture for schema version 2 (migrations/*/00002_admission.sql): what
-- admission in the database added, as a Fast-Flow of that schema wrote it.
-- The rules of 00001.sql hold here too: one file for both dialects, never
-- edited to suit a later migration.

INSERT INTO runs (id, pipeline, status, error_type, exit_code, message, revision, trigger_type, triggered_by, attempt, retry_of,
        container_id, parameters, env_names, queued_at, started_at, finished_at, uv_version, setup_duration_us,
        peak_cpu_percent, peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path,
        admitted, not_before, request_env, log_incomplete) VALUES
    ('0195f000-0000-7000-8000-000000000201', 'report', 'FAILED', 'EXIT_CODE', 2, 'exit status 2; the log stream broke, lines may be missing',
        'main@sha1:cccccccccccccccccccccccccccccccccccccccc', 'manual', 'alice', 1, NULL, 'c0ffee21', '{"MONTH":"2025-02"}', '["DEBUG"]',
        '2025-03-02T10:00:00.000000Z', '2025-03-02T10:00:01.000000Z', '2025-03-02T10:00:30.000000Z', 'uv 0.9.3', 2500000,
        31.5, 10485760, FALSE, '/data/logs/201.log', '/data/logs/201.metrics.jsonl',
        FALSE, NULL, '{"DEBUG":"1"}', TRUE),
    ('0195f000-0000-7000-8000-000000000202', 'report', 'PENDING', '', NULL, 'waiting for retry_delay',
        'main@sha1:cccccccccccccccccccccccccccccccccccccccc', 'retry', 'alice', 2, '0195f000-0000-7000-8000-000000000201', '', '{"MONTH":"2025-02"}', '[]',
        '2025-03-02T10:00:31.000000Z', NULL, NULL, '', 0,
        0, 0, FALSE, '', '',
        FALSE, '2099-03-02T10:01:31.000000Z', '{"DEBUG":"1"}', FALSE),
    ('0195f000-0000-7000-8000-000000000203', 'report', 'PENDING', '', NULL, '',
        'main@sha1:cccccccccccccccccccccccccccccccccccccccc', 'schedule', 'scheduler', 1, NULL, '', '{}', '[]',
        '2025-03-02T11:00:00.000000Z', NULL, NULL, '', 0,
        0, 0, FALSE, '', '',
        TRUE, NULL, '{}', FALSE),
    ('0195f000-0000-7000-8000-000000000204', 'export', 'PENDING', '', NULL, '',
        'main@sha1:cccccccccccccccccccccccccccccccccccccccc', 'manual', 'bob', 1, NULL, '', '{}', '[]',
        '2025-03-02T11:00:01.000000Z', NULL, NULL, '', 0,
        0, 0, FALSE, '', '',
        FALSE, NULL, '{"LIMIT":"10"}', FALSE);

INSERT INTO pipelines (name, has_requirements, requirements_hash, last_cache_warmup, cache_status, cache_output,
        total_runs, successful_runs, failed_runs, counters_reset_at, cancelled_runs, interrupted_runs) VALUES
    ('report', TRUE, 'sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752', '2025-03-02T09:00:00.000000Z', 'ok', '',
        12, 9, 3, NULL, 4, 2);
