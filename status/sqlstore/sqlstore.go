package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/fastflow-dev/fastflow/status"
)

// FileName is the SQLite database file inside Config.DataDir.
const FileName = "fastflow.db"

// Store is a status.Store on SQLite or PostgreSQL. Open it with Open,
// migrate it with Migrate, and release it with Close.
type Store struct {
	d   dialect
	w   *sql.DB // writes; for SQLite a single connection
	r   *sql.DB // reads; the same pool as w for PostgreSQL
	log *slog.Logger
	now func() time.Time
	// pg is the PostgreSQL connection's settings, for the connection of
	// its own that ListenSync holds; nil for SQLite.
	pg *pgx.ConnConfig
	// migrateLock is the file SQLite migrations lock: goose has no
	// locker for SQLite, and two processes on one data directory (a
	// restart overlapping the old process, a CLI beside the server) must
	// not both create the tables.
	migrateLock string

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ status.Store = (*Store)(nil)

// Open connects to the database cfg names and checks it answers. It does
// not migrate: call Migrate. For SQLite it starts the WAL checkpoint
// goroutine, which Close stops.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log, now: func() time.Time { return time.Now().UTC() }}
	var err error
	if cfg.postgres() {
		err = s.openPostgres(ctx, cfg)
	} else {
		err = s.openSQLite(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}

	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if !s.d.postgres && cfg.CheckpointInterval >= 0 {
		every := cfg.CheckpointInterval
		if every == 0 {
			every = DefaultCheckpointInterval
		}
		s.wg.Add(1)
		go s.checkpointLoop(bg, every)
	}
	return s, nil
}

func (s *Store) openPostgres(ctx context.Context, cfg Config) error {
	pcfg, err := pgx.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return fmt.Errorf("parse DatabaseURL: %w", err)
	}
	db := stdlib.OpenDB(*pcfg)
	max := cfg.MaxConns
	if max == 0 {
		max = 16
	}
	db.SetMaxOpenConns(max)
	db.SetMaxIdleConns(max)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		return errors.Join(fmt.Errorf("connect postgres %s/%s: %w", pcfg.Host, pcfg.Database, err), db.Close())
	}
	s.d, s.w, s.r, s.pg = postgresDialect(), db, db, pcfg
	return nil
}

func (s *Store) openSQLite(ctx context.Context, cfg Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, FileName)

	common := url.Values{}
	common.Set("_busy_timeout", "10000")
	common.Set("_foreign_keys", "1")
	common.Set("_synchronous", "NORMAL")

	wq := url.Values{}
	for k, v := range common {
		wq[k] = v
	}
	wq.Set("_journal_mode", "WAL")
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// has to upgrade a read lock, which is where SQLITE_BUSY bypasses the
	// busy timeout.
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	// One writer connection: SQLite allows one writer at a time anyway, and
	// queueing in database/sql is fair and never errors.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The first write connection switches the file to WAL before any
	// reader opens it.
	if err := w.PingContext(ctx); err != nil {
		return errors.Join(fmt.Errorf("open %s: %w", path, err), w.Close())
	}

	rq := common
	rq.Set("_query_only", "1")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		return errors.Join(fmt.Errorf("open %s: %w", path, err), w.Close())
	}
	max := cfg.MaxConns
	if max == 0 {
		max = 4
	}
	r.SetMaxOpenConns(max)
	r.SetMaxIdleConns(max)
	r.SetConnMaxIdleTime(5 * time.Minute)
	if err := r.PingContext(ctx); err != nil {
		return errors.Join(fmt.Errorf("open %s: %w", path, err), r.Close(), w.Close())
	}
	s.d, s.w, s.r = sqliteDialect(), w, r
	s.migrateLock = path + ".migrate-lock"
	return nil
}

// Dialect names the database behind the store: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// Ping checks that the database answers, on both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.name, err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return fmt.Errorf("ping %s: %w", s.d.name, err)
		}
	}
	return nil
}

// Close stops the checkpoint goroutine, waits for it, and closes the
// database. Later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		var errs []error
		if s.r != s.w {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Checkpoint truncates SQLite's write-ahead log once every reader has moved
// past it; it is a no-op on PostgreSQL. The store calls it periodically; it
// is exported for tests and for a clean shutdown.
func (s *Store) Checkpoint(ctx context.Context) error {
	if s.d.postgres {
		return nil
	}
	var busy, logFrames, checkpointed int
	err := s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed)
	if err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	if busy != 0 {
		// A long reader held the log; the next tick will catch up.
		s.log.Debug("wal checkpoint incomplete", "log_frames", logFrames, "checkpointed", checkpointed)
	}
	return nil
}

func (s *Store) checkpointLoop(ctx context.Context, every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("wal checkpoint", "err", err)
			}
		}
	}
}

// conn is what a statement runs on: the write pool or one transaction.
// The helpers that take one let a method run alone or as a step of a
// larger transaction (AdmitRun, FinishRun) with the same SQL.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in one write transaction and commits it when fn returns
// nil. On SQLite the write pool's transactions begin IMMEDIATE, so the
// transaction holds the database's write lock from its start: its reads
// cannot go stale before its writes, in this process or another.
// PostgreSQL runs it at READ COMMITTED; callers that decide on what they
// read take a lock (lockAdmission) or guard their UPDATE's WHERE.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", classify(err))
	}
	return nil
}

// ignoreDone drops the error of a rollback the driver already did: a
// failed statement can end the transaction, and a cancelled context rolls
// it back by itself.
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// execOn runs a write on c.
func (s *Store) execOn(ctx context.Context, c conn, q string, args ...any) (sql.Result, error) {
	res, err := c.ExecContext(ctx, s.d.rebind(q), args...)
	return res, classify(err)
}

// queryOn runs a query on c.
func (s *Store) queryOn(ctx context.Context, c conn, q string, args ...any) (*sql.Rows, error) {
	return c.QueryContext(ctx, s.d.rebind(q), args...)
}

// queryRowOn runs a query of one row on c.
func (s *Store) queryRowOn(ctx context.Context, c conn, q string, args ...any) *sql.Row {
	return c.QueryRowContext(ctx, s.d.rebind(q), args...)
}

// exec runs a write.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.execOn(ctx, s.w, q, args...)
}

// writeRow runs a write that returns a row (INSERT ... RETURNING).
func (s *Store) writeRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.w.QueryRowContext(ctx, s.d.rebind(q), args...)
}

// query runs a read.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.r.QueryContext(ctx, s.d.rebind(q), args...)
}

// queryRow runs a read of one row.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.r.QueryRowContext(ctx, s.d.rebind(q), args...)
}

// mustAffect turns "no row changed" into ErrNotFound.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return status.ErrNotFound
	}
	return nil
}

// notFound turns sql.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return status.ErrNotFound
	}
	return err
}
