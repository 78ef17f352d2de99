-- Fixture for schema version 1 (migrations/*/00001_init.sql): the rows a
-- Fast-Flow of that schema wrote. migrate_fixture_test.go migrates a fresh
-- database to exactly version 1, runs this file, migrates to the newest
-- version and reads every row back through the Store. Never edit a fixture
-- to suit a new migration: it is what old installations hold.
--
-- One file for both dialects, so it is written in their common SQL:
--   - times are text in the store's fixed-width UTC form, which SQLite keeps
--     as it is and PostgreSQL reads into TIMESTAMPTZ;
--   - booleans are TRUE and FALSE (SQLite stores 1 and 0);
--   - bytes are CAST('...' AS BLOB); the test defines a domain blob over
--     bytea on PostgreSQL for it;
--   - identity columns are left to the database and rows refer to them by
--     subquery, so PostgreSQL's sequences stay right for later inserts.
--
-- Secrets are Fernet tokens of fixtureKey in migrate_fixture_test.go,
-- passwords bcrypt hashes (cost 4) and tokens SHA-256 hex of the values
-- written there.

INSERT INTO sync_events (trigger_type, started_at, finished_at, revision, branch, commit_message, outcome, pipelines, problems, error) VALUES
    ('startup', '2025-03-01T03:00:00.000000Z', '2025-03-01T03:00:02.500000Z', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809', 'main', 'Add nightly', 'updated', 3, 1, ''),
    ('poll', '2025-03-01T03:01:00.000000Z', '2025-03-01T03:01:00.250000Z', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809', 'main', 'Add nightly', 'unchanged', 3, 1, ''),
    ('webhook', '2025-03-01T03:02:00.000000Z', '2025-03-01T03:02:10.000000Z', '', 'main', '', 'failed', 0, 0, 'fetch: authentication required');

INSERT INTO runs (id, pipeline, status, error_type, exit_code, message, revision, trigger_type, triggered_by, attempt, retry_of,
        container_id, parameters, env_names, queued_at, started_at, finished_at, uv_version, setup_duration_us,
        peak_cpu_percent, peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path) VALUES
    ('0195f000-0000-7000-8000-000000000001', 'nightly', 'SUCCESS', '', 0, '', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809',
        'schedule', 'scheduler', 1, NULL, 'c0ffee01', '{"DATE":"2025-03-01"}', '["LOG_LEVEL","API_TOKEN"]',
        '2025-03-01T04:00:00.000000Z', '2025-03-01T04:00:01.000000Z', '2025-03-01T04:00:09.100000Z', 'uv 0.9.2', 1400000,
        97.5, 67004416, TRUE, '/data/logs/0195f000-0000-7000-8000-000000000001.log', '/data/logs/0195f000-0000-7000-8000-000000000001.metrics.jsonl'),
    ('0195f000-0000-7000-8000-000000000002', 'hello', 'FAILED', 'OOM', 137, 'killed: out of memory (limit 64 MiB)', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809',
        'manual', 'alice', 1, NULL, 'c0ffee02', '{}', '[]',
        '2025-03-01T05:00:00.000000Z', '2025-03-01T05:00:01.000000Z', '2025-03-01T05:00:03.000000Z', 'uv 0.9.2', 900000,
        100, 67108864, TRUE, '/data/logs/2.log', '/data/logs/2.metrics.jsonl'),
    ('0195f000-0000-7000-8000-000000000003', 'hello', 'FAILED', 'EXIT_CODE', 1, 'it''s broken: ünïcödé
and a second line', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809',
        'retry', 'alice', 2, '0195f000-0000-7000-8000-000000000002', 'c0ffee03', '{}', '[]',
        '2025-03-01T05:00:13.000000Z', '2025-03-01T05:00:14.000000Z', '2025-03-01T05:00:15.000000Z', 'uv 0.9.2', 0,
        12.25, 1048576, FALSE, '/data/logs/3.log', ''),
    ('0195f000-0000-7000-8000-000000000004', 'hello', 'SUCCESS', '', 0, '', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809',
        'retry', 'alice', 3, '0195f000-0000-7000-8000-000000000003', 'c0ffee04', '{}', '[]',
        '2025-03-01T05:00:35.000000Z', '2025-03-01T05:00:36.000000Z', '2025-03-01T05:00:40.000000Z', 'uv 0.9.2', 0,
        50, 2097152, FALSE, '/data/logs/4.log', ''),
    ('0195f000-0000-7000-8000-000000000005', 'slow', 'TIMEOUT', '', 143, 'timed out after 60 s', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809',
        'schedule', 'scheduler', 1, NULL, 'c0ffee05', '{}', '[]',
        '2025-03-01T06:00:00.000000Z', '2025-03-01T06:00:01.000000Z', '2025-03-01T06:01:01.000000Z', '', 0,
        0, 0, FALSE, '', ''),
    ('0195f000-0000-7000-8000-000000000006', 'slow', 'CANCELLED', '', NULL, 'cancelled by bob', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809',
        'manual', 'bob', 1, NULL, 'c0ffee06', '{"SIZE":"large"}', '[]',
        '2025-03-01T07:00:00.000000Z', '2025-03-01T07:00:01.000000Z', '2025-03-01T07:00:30.000000Z', '', 0,
        0, 0, FALSE, '', ''),
    ('0195f000-0000-7000-8000-000000000007', 'nightly', 'INTERRUPTED', '', NULL, 'operator restarted', 'main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809',
        'webhook', 'github', 1, NULL, '', '{}', '[]',
        '2025-03-01T08:00:00.000000Z', '2025-03-01T08:00:01.000000Z', '2025-03-01T08:00:02.000000Z', '', 0,
        0, 0, FALSE, '', ''),
    ('0195f000-0000-7000-8000-000000000008', 'nightly', 'RUNNING', '', NULL, '', 'main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        'manual', 'alice', 1, NULL, 'c0ffee08', '{}', '["LOG_LEVEL"]',
        '2025-03-01T09:00:00.000000Z', '2025-03-01T09:00:01.000000Z', NULL, 'uv 0.9.2', 0,
        0, 0, FALSE, '/data/logs/8.log', ''),
    ('0195f000-0000-7000-8000-000000000009', 'hello', 'PENDING', '', NULL, '', 'main@sha1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
        'manual', 'alice', 1, NULL, 'c0ffee09', '{}', '[]',
        '2025-03-01T09:00:05.000000Z', NULL, NULL, '', 0,
        0, 0, FALSE, '', ''),
    ('0195f000-0000-7000-8000-00000000000a', 'slow', 'PENDING', '', NULL, '', '',
        'schedule', 'scheduler', 1, NULL, '', '{}', '[]',
        '2025-03-01T09:00:10.000000Z', NULL, NULL, '', 0,
        0, 0, FALSE, '', '');

INSERT INTO pipelines (name, has_requirements, requirements_hash, last_cache_warmup, cache_status, cache_output,
        total_runs, successful_runs, failed_runs, counters_reset_at) VALUES
    ('hello', TRUE, 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', '2025-03-01T03:00:05.000000Z', 'ok',
        'Resolved 3 packages in 120ms', 3, 1, 2, '2025-02-01T00:00:00.000000Z'),
    ('nightly', FALSE, '', NULL, '', '', 1, 1, 0, NULL),
    ('slow', FALSE, '', NULL, 'failed', 'error: No solution found', 1, 0, 1, NULL);

INSERT INTO schedule_states (pipeline, schedule_key, last_fire, next_fire) VALUES
    ('nightly', 'cron:0 5 * * *@Europe/Berlin', '2025-03-01T04:00:00.000000Z', '2025-03-02T04:00:00.000000Z'),
    ('slow', 'every:15m', NULL, '2025-03-01T06:15:00.000000Z');

INSERT INTO schedule_fires (fire_key, pipeline, fire_at, run_id, created_at) VALUES
    ('nightly|cron:0 5 * * *@Europe/Berlin|2025-03-01T04:00:00Z', 'nightly', '2025-03-01T04:00:00.000000Z', '0195f000-0000-7000-8000-000000000001', '2025-03-01T04:00:00.010000Z'),
    ('slow|every:15m|2025-03-01T06:15:00Z', 'slow', '2025-03-01T06:15:00.000000Z', '', '2025-03-01T06:15:00.010000Z');

INSERT INTO secrets (name, value, created_at, updated_at) VALUES
    ('API_TOKEN', CAST('gAAAAABrEaJs_UfkqcWEs-EPHikmpJVa04nNAaoUGA3BCzJuHNpo5iGahu0nGMwLWLoO-GeYj_jZu9XRLjgggZp1e_yOzbD6NdXTRe2n14_0IjQ8G4ZFO_k=' AS BLOB),
        '2025-02-01T10:00:00.000000Z', '2025-02-15T10:00:00.000000Z'),
    ('MULTI_LINE', CAST('gAAAAABrEaJsixPsXmqR1qwA-8skmHUMJ9LXKWXBAT2XV233GmUOQ0KtzNLNmpWcfahboRM_2f4B_2OQRkq9dRnER-ZjaPrzaErVIWE7HErSPf8WLfyfKayiISCrHdtfDoKYhhvwjh3N' AS BLOB),
        '2025-02-02T10:00:00.000000Z', '2025-02-02T10:00:00.000000Z');

INSERT INTO users (username, password_hash, created_at, updated_at) VALUES
    ('alice', '$2a$04$KCe2R4IIz1URfQ8IvS7a0.HZTsduI.ONcgsZVo0tJo/OL/af8wAV.', '2025-01-01T00:00:00.000000Z', '2025-01-10T00:00:00.000000Z'),
    ('bob', '$2a$04$IddazJcSPuAFzp7GkF922e6OKHkMGFXkNhDvGRWmv3OaTmwjBXRSa', '2025-01-02T00:00:00.000000Z', '2025-01-02T00:00:00.000000Z');

INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES
    ('d8d8e2aae888cc42466969194aea02aeac165bdac30bcf0af13cd35b6fe3523a', (SELECT id FROM users WHERE username = 'alice'),
        '2025-03-01T00:00:00.000000Z', '2099-01-01T00:00:00.000000Z'),
    ('ca92d20ae7ef20f3c15399b2a2de9b50e2f2e6b727b9a7bc199233c4d86810cc', (SELECT id FROM users WHERE username = 'alice'),
        '2020-01-01T00:00:00.000000Z', '2020-01-02T00:00:00.000000Z');

INSERT INTO api_tokens (token_hash, name, user_id, created_at, revoked_at) VALUES
    ('348c0927947534a1f5c8964bdbc425045fea22cfd71578c4b1318d21bfb32b3d', 'ci', (SELECT id FROM users WHERE username = 'alice'),
        '2025-01-05T00:00:00.000000Z', NULL),
    ('a849bdff4063148a6e03cf8c534fec94058cb029092864cdcfb38e81b9b99eb2', 'old-deploy', (SELECT id FROM users WHERE username = 'bob'),
        '2025-01-06T00:00:00.000000Z', '2025-02-06T00:00:00.000000Z');

INSERT INTO webhook_deliveries (delivery_id, event, received_at) VALUES
    ('72d3162e-cc78-11e3-81ab-4c9367dc0958', 'push', '2025-03-01T03:02:00.000000Z'),
    ('72d3162e-cc78-11e3-81ab-4c9367dc0959', 'ping', '2025-02-28T12:00:00.000000Z');
