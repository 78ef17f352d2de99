package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

func openSQLite(t *testing.T, cfg sqlstore.Config) *sqlstore.Store {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	return open(t, cfg)
}

func openPostgres(t *testing.T) *sqlstore.Store {
	t.Helper()
	return open(t, sqlstore.Config{DatabaseURL: storetest.Postgres(t)})
}

func open(t *testing.T, cfg sqlstore.Config) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func migrated(s *sqlstore.Store, t *testing.T) *sqlstore.Store {
	t.Helper()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) status.Store {
		return migrated(openSQLite(t, sqlstore.Config{}), t)
	})
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t) // skip or fail once, up front, not per subtest
	storetest.Run(t, func(t *testing.T) status.Store {
		return migrated(openPostgres(t), t)
	})
}

// TestReplicasSQLite opens two stores on one data directory, as a server
// and a CLI, or an old and a new process in a restart, would.
func TestReplicasSQLite(t *testing.T) {
	t.Parallel()
	storetest.RunReplicas(t, func(t *testing.T) (status.Store, status.Store) {
		cfg := sqlstore.Config{DataDir: t.TempDir()}
		return migrated(open(t, cfg), t), open(t, cfg)
	})
}

// TestReplicasPostgres opens two stores on one database, as two operator
// replicas would.
func TestReplicasPostgres(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	storetest.RunReplicas(t, func(t *testing.T) (status.Store, status.Store) {
		cfg := sqlstore.Config{DatabaseURL: storetest.Postgres(t)}
		return migrated(open(t, cfg), t), open(t, cfg)
	})
}

// dialects runs fn against a fresh, unmigrated store of each database.
func dialects(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, func(t *testing.T) *sqlstore.Store { return openSQLite(t, sqlstore.Config{}) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, func(t *testing.T) *sqlstore.Store { return openPostgres(t) })
	})
}

func TestMigrateIsExplicitAndIdempotent(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, open func(t *testing.T) *sqlstore.Store) {
		s := open(t)
		ctx := t.Context()
		if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
			t.Fatalf("SchemaVersion before Migrate = %d, %v; want 0, nil (Open must not migrate)", v, err)
		}
		if _, err := s.GetRun(ctx, "x"); err == nil || errors.Is(err, status.ErrNotFound) {
			t.Errorf("GetRun before Migrate = %v, want a missing-table error", err)
		}
		for i := range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		v, err := s.SchemaVersion(ctx)
		if err != nil || v < 1 {
			t.Fatalf("SchemaVersion after Migrate = %d, %v", v, err)
		}
		if _, err := s.GetRun(ctx, "x"); !errors.Is(err, status.ErrNotFound) {
			t.Errorf("GetRun after Migrate = %v, want ErrNotFound", err)
		}
	})
}

// TestMigrateConcurrently starts two stores on one database and migrates
// both at once, as two replicas starting together would.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	cfgs := map[string]func(t *testing.T) sqlstore.Config{
		"sqlite":   func(t *testing.T) sqlstore.Config { return sqlstore.Config{DataDir: t.TempDir()} },
		"postgres": func(t *testing.T) sqlstore.Config { return sqlstore.Config{DatabaseURL: storetest.Postgres(t)} },
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := cfg(t)
			a, b := open(t, c), open(t, c)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, s := range []*sqlstore.Store{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.Migrate(t.Context())
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("concurrent Migrate: %v", err)
			}
		})
	}
}

func TestSQLiteFileAndPragmas(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s := migrated(openSQLite(t, sqlstore.Config{DataDir: dir, CheckpointInterval: -1}), t)
	if s.Dialect() != "sqlite" {
		t.Errorf("Dialect = %q, want sqlite", s.Dialect())
	}
	if _, err := os.Stat(filepath.Join(dir, sqlstore.FileName)); err != nil {
		t.Fatalf("database file: %v", err)
	}
	if err := s.PutSecret(t.Context(), "K", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlstore.FileName+"-wal")); err != nil {
		t.Errorf("no WAL file after a write, journal_mode is not WAL: %v", err)
	}
}

// TestCheckpointLoop proves the store truncates the WAL by itself and that
// Close stops the goroutine (the race detector and a hung Close catch it).
func TestCheckpointLoop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := sqlstore.Open(t.Context(), sqlstore.Config{DataDir: dir, CheckpointInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		st := status.RunSuccess
		if i%2 == 0 {
			st = status.RunFailed
		}
		if err := s.IncrementCounters(t.Context(), "p", st); err != nil {
			t.Fatal(err)
		}
	}
	wal := filepath.Join(dir, sqlstore.FileName+"-wal")
	deadline := time.Now().Add(5 * time.Second)
	for {
		fi, err := os.Stat(wal)
		if err == nil && fi.Size() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL not truncated within 5s (stat: %v, %v)", fi, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback refuses at once.
	_, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: "postgres://u:secretpw@127.0.0.1:1/db?connect_timeout=2"})
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "secretpw") {
		t.Errorf("error leaks the password: %s", msg)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     sqlstore.Config
		wantErr bool
	}{
		{"sqlite in a data dir is valid", sqlstore.Config{DataDir: "/tmp/x"}, false},
		{"postgres url is valid", sqlstore.Config{DatabaseURL: "postgres://u:p@h/db"}, false},
		{"postgresql url is valid", sqlstore.Config{DatabaseURL: "postgresql://h/db?sslmode=disable"}, false},
		{"nothing at all is invalid", sqlstore.Config{}, true},
		{"mysql url is invalid", sqlstore.Config{DatabaseURL: "mysql://h/db"}, true},
		{"bare path is invalid", sqlstore.Config{DatabaseURL: "/var/lib/fastflow.db"}, true},
		{"unparsable url is invalid", sqlstore.Config{DatabaseURL: "postgres://h:port:x/%zz"}, true},
		{"negative pool is invalid", sqlstore.Config{DataDir: "/tmp/x", MaxConns: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, sqlstore.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}
