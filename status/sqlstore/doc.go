// Package sqlstore implements status.Store on SQLite (modernc.org/sqlite,
// no cgo) and on PostgreSQL (pgx through database/sql), sharing one SQL
// layer so that both behave the same.
//
// The two databases differ in a few places only, all kept in dialect.go:
// placeholders (? against $n), how a time is bound (fixed-width UTC text in
// SQLite, TIMESTAMPTZ in PostgreSQL), how a unique or foreign-key
// violation is reported, and the migration files, which are embedded per
// dialect and applied by goose.
//
// Migrations are forward-only and tested on data: each new migration
// NNNNN adds testdata/migrations/NNNNN.sql, rows written against exactly
// that schema, and a check that reads them back through the Store after
// migrating to the newest version (migrate_fixture_test.go).
//
// SQLite runs in WAL mode with two connection pools: one connection for
// writes, whose transactions begin IMMEDIATE, and several read-only
// connections. Serialising writers in the pool rather than in SQLite means
// goroutines queue instead of failing with "database is locked"; the busy
// timeout covers other processes such as a concurrent "fastflow secret set".
// A background goroutine truncates the WAL periodically so it cannot grow
// without bound under a constant trickle of reads.
//
// Admission (admission.go) is the one place a decision is made on what a
// transaction read: whether a slot is free. SQLite's IMMEDIATE write
// transaction already excludes every other writer, across processes too.
// PostgreSQL reads at READ COMMITTED, so AdmitRun and ClaimQueued first take
// a transaction-level advisory lock, which serialises them across replicas,
// and ClaimQueued locks the queued rows it takes with FOR UPDATE SKIP
// LOCKED, so a concurrent CancelQueued is passed over rather than waited
// for. Ending a run (FinishRun, CancelQueued) needs no lock: its guarded
// UPDATE decides, and the counters change only if it did.
package sqlstore
