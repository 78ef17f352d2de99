package sqlstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

var (
	// ErrInvalidConfig is wrapped by every error of Config.Validate.
	ErrInvalidConfig = errors.New("sqlstore: invalid config")
)

// DefaultCheckpointInterval is how often SQLite's WAL is truncated when
// Config.CheckpointInterval is zero.
const DefaultCheckpointInterval = 10 * time.Minute

// Config says which database to open. cmd/fastflow fills it from
// DATABASE_URL and DATA_DIR.
type Config struct {
	// DatabaseURL selects PostgreSQL when it is a postgres:// or
	// postgresql:// URL. Empty selects SQLite in DataDir.
	DatabaseURL string
	// DataDir holds fastflow.db when DatabaseURL is empty; it is created
	// if missing.
	DataDir string
	// Logger receives background errors (checkpoints) and migration
	// progress. Nil discards.
	Logger *slog.Logger
	// CheckpointInterval is the period of PRAGMA wal_checkpoint(TRUNCATE)
	// for SQLite: zero means DefaultCheckpointInterval, negative disables.
	CheckpointInterval time.Duration
	// MaxConns caps the PostgreSQL pool and the SQLite read pool; zero
	// means 16 for PostgreSQL and 4 for SQLite.
	MaxConns int
}

// Validate reports a config Open cannot use. It never echoes the URL,
// which may carry a password.
func (c Config) Validate() error {
	if c.MaxConns < 0 {
		return fmt.Errorf("%w: MaxConns %d is negative", ErrInvalidConfig, c.MaxConns)
	}
	if c.DatabaseURL == "" {
		if c.DataDir == "" {
			return fmt.Errorf("%w: DataDir is required when DatabaseURL is empty", ErrInvalidConfig)
		}
		return nil
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return fmt.Errorf("%w: DatabaseURL does not parse as a URL", ErrInvalidConfig)
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return nil
	default:
		return fmt.Errorf("%w: DatabaseURL scheme %q is not postgres:// or postgresql://", ErrInvalidConfig, u.Scheme)
	}
}

func (c Config) postgres() bool { return c.DatabaseURL != "" }
