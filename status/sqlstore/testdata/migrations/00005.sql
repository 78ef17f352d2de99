-- Fixture for schema version 5 (migrations/*/00005_leases.sql): a leader
-- lease that expired long ago and the replica that held it. The rules of
-- 00001.sql hold here too: one file for both dialects, never edited to
-- suit a later migration.

INSERT INTO leases (name, holder, term, acquired_at, renewed_at, expires_at) VALUES
    ('leader', 'replica-a', 7, '2025-06-01T02:00:00.000000Z', '2025-06-01T02:10:00.000000Z', '2025-06-01T02:10:15.000000Z');

INSERT INTO replicas (id, host, version, started_at, last_seen) VALUES
    ('replica-a', 'node-1', 'v1.4.0', '2025-06-01T01:59:58.000000Z', '2025-06-01T02:10:05.000000Z');
