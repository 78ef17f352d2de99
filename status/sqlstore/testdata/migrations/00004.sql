-- Fixture for schema version 4 (migrations/*/00004_notifications.sql): a
-- failed run with one delivered and one still retrying notification. The
-- rules of 00001.sql hold here too: one file for both dialects, never
-- edited to suit a later migration.

INSERT INTO runs (id, pipeline, status, error_type, exit_code, message, revision, trigger_type, triggered_by, attempt, retry_of,
        container_id, parameters, env_names, queued_at, started_at, finished_at, uv_version, setup_duration_us,
        peak_cpu_percent, peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path,
        admitted, not_before, request_env, log_incomplete, log_removed_at, log_removed_reason) VALUES
    ('0195f000-0000-7000-8000-000000000401', 'nightly', 'FAILED', 'EXIT_CODE', 1, 'exit code 1',
        'main@sha1:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', 'schedule', 'scheduler', 1, NULL, 'c0ffee41', '{}', '[]',
        '2025-05-01T02:00:00.000000Z', '2025-05-01T02:00:01.000000Z', '2025-05-01T02:00:09.000000Z', 'uv 0.9.4', 1000000,
        12.5, 2097152, FALSE, '/data/logs/401.log', '/data/logs/401.metrics.jsonl',
        TRUE, NULL, '{}', FALSE, NULL, '');

INSERT INTO notifications (run_id, target, format, signing_secret, event, state, attempts, next_attempt_at,
        last_error, created_at, delivered_at) VALUES
    ('0195f000-0000-7000-8000-000000000401', 'SLACK_URL', 'slack', '', 'failure', 'delivered', 1,
        '2025-05-01T02:00:09.000000Z', '', '2025-05-01T02:00:09.000000Z', '2025-05-01T02:00:10.000000Z'),
    ('0195f000-0000-7000-8000-000000000401', 'HOOK_URL', 'json', 'HOOK_KEY', 'failure', 'pending', 3,
        '2025-05-01T02:05:00.000000Z', 'HTTP 503 Service Unavailable', '2025-05-01T02:00:09.000000Z', NULL);
