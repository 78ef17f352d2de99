package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one directory of goose SQL files per dialect. A new
// column is a new numbered file in both directories.
//
//go:embed migrations
var migrations embed.FS

// provider builds a goose provider without touching goose's global state.
func (s *Store) provider() (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations/"+s.d.name)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.d.name, err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.d.postgres {
		// Several replicas may start at once; an advisory lock makes one
		// migrate while the others wait and then find nothing to do.
		// Poll the lock every second (goose's default is 5 s) for up to
		// five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.d.goose, s.w, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("migration provider: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration. It is idempotent: on an
// up-to-date database it changes nothing.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	if s.migrateLock != "" {
		unlock, err := lockFile(s.migrateLock)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.d.name, err)
		}
		defer unlock()
	}
	if err := s.refuseNewer(ctx, p); err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.name, err)
	}
	for _, r := range results {
		s.log.Info("migration applied", "dialect", s.d.name, "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// ErrSchemaNewer is returned by Migrate when the database was migrated by a
// newer Fast-Flow than this binary: its code would read tables whose
// meaning it does not know. Migrations are forward-only; going back means
// restoring the backup taken before the upgrade.
var ErrSchemaNewer = errors.New("the database schema is newer than this Fast-Flow")

// refuseNewer fails with ErrSchemaNewer when the database is ahead of the
// migrations this binary carries (a downgrade).
func (s *Store) refuseNewer(ctx context.Context, p *goose.Provider) error {
	have, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: schema version: %w", s.d.name, err)
	}
	known, err := newestMigration(s.d.name)
	if err != nil {
		return err
	}
	if have > known {
		return fmt.Errorf("migrate %s: %w: the database is at schema %d, this binary knows up to %d; run the newer version, or restore the backup taken before the upgrade", s.d.name, ErrSchemaNewer, have, known)
	}
	return nil
}

// SchemaVersion returns the newest applied migration, 0 on an empty
// database.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// lockFile takes an exclusive flock on path, waiting for another holder;
// migrations take milliseconds, so the wait is short.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open migration lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}

// LatestSchemaVersion is the newest migration this binary carries: the
// schema version a database has after Migrate. Both dialects move in step
// (a test holds them to it), so SQLite's directory answers for both.
func LatestSchemaVersion() int64 {
	v, err := newestMigration("sqlite")
	if err != nil {
		// The files are embedded at build time; a failure here is a
		// broken build, caught by the tests.
		return 0
	}
	return v
}

// newestMigration reads the version prefix of the newest goose file of a
// dialect ("00002_admission.sql" is 2).
func newestMigration(dialect string) (int64, error) {
	entries, err := fs.ReadDir(migrations, "migrations/"+dialect)
	if err != nil {
		return 0, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	var newest int64
	for _, e := range entries {
		name := e.Name()
		i := strings.IndexByte(name, '_')
		if i <= 0 || !strings.HasSuffix(name, ".sql") {
			return 0, fmt.Errorf("migration %s/%s: name is not NNNNN_what.sql", dialect, name)
		}
		v, err := strconv.ParseInt(name[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s/%s: %w", dialect, name, err)
		}
		newest = max(newest, v)
	}
	return newest, nil
}
