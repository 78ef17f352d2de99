-- Fixture for schema version 5 (migrations/*/00005_leases.sql): a leader
-- lease that expired long ago, the replica that held it, and a run that
-- replica executes. The rules of
-- 00001.sql hold here too: one file for both dialects, never edited to
-- suit a later migration.

INSERT INTO leases (name, holder, term, acquired_at, renewed_at, expires_at) VALUES
    ('leader', 'replica-a', 7, '2025-06-01T02:00:00.000000Z', '2025-06-01T02:10:00.000000Z', '2025-06-01T02:10:15.000000Z');

INSERT INTO replicas (id, host, version, started_at, last_seen) VALUES
    ('replica-a', 'node-1', 'v1.4.0', '2025-06-01T01:59:58.000000Z', '2025-06-01T02:10:05.000000Z');

INSERT INTO runs (id, pipeline, status, error_type, exit_code, message, revision, trigger_type, triggered_by, attempt, retry_of,
        container_id, parameters, env_names, queued_at, started_at, finished_at, uv_version, setup_duration_us,
        peak_cpu_percent, peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path,
        admitted, not_before, request_env, log_incomplete, log_removed_at, log_removed_reason, replica_id) VALUES
    ('0195f000-0000-7000-8000-000000000501', 'nightly', 'RUNNING', '', NULL, '',
        'main@sha1:ffffffffffffffffffffffffffffffffffffffff', 'schedule', 'scheduler', 1, NULL, 'c0ffee51', '{}', '[]',
        '2025-06-01T02:00:00.000000Z', '2025-06-01T02:00:01.000000Z', NULL, 'uv 0.9.4', 1000000,
        12.5, 2097152, FALSE, '/data/logs/501.log', '/data/logs/501.metrics.jsonl',
        TRUE, NULL, '{}', FALSE, NULL, '', 'replica-a');
