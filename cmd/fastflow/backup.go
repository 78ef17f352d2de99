package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// backupCmd is `fastflow backup FILE`: a consistent copy of the SQLite
// database of DATA_DIR, taken beside a running server.
func backupCmd(ctx context.Context, args []string, stderr io.Writer, environ []string) error {
	if err := noFlags(args); err != nil {
		return err
	}
	if len(args) != 1 || args[0] == "" {
		return fmt.Errorf("%w: backup takes one FILE to write", errUsage)
	}
	cfg, _, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return errors.New("backup: DATABASE_URL names PostgreSQL; back it up with pg_dump -Fc (docs/deploy.md), and keep ENCRYPTION_KEY and LOGS_DIR with it")
	}
	res, err := sqlstore.Backup(ctx, cfg.DataDir, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "backup of %s written to %s (%.1f MB in %s, integrity ok)\n",
		filepath.Join(cfg.DataDir, sqlstore.FileName), res.Path, float64(res.Bytes)/1e6, res.Duration.Round(1e6))
	fmt.Fprintln(stderr, "keep ENCRYPTION_KEY with it (its secrets need that key) and back LOGS_DIR up beside it")
	return nil
}

// restoreCmd is `fastflow restore FILE`: the backup into an empty
// DATA_DIR, migrated to this binary's schema, its secrets checked against
// ENCRYPTION_KEY. A restore whose secrets this key cannot read is undone,
// so the directory is empty again and the next try starts clean.
func restoreCmd(ctx context.Context, args []string, stderr io.Writer, environ []string) error {
	if err := noFlags(args); err != nil {
		return err
	}
	if len(args) != 1 || args[0] == "" {
		return fmt.Errorf("%w: restore takes the backup FILE to read", errUsage)
	}
	cfg, log, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return errors.New("restore: DATABASE_URL names PostgreSQL; restore it with pg_restore (docs/deploy.md)")
	}
	// A malformed key is refused before anything is written.
	if strings.TrimSpace(cfg.EncryptionKey) != "" {
		if _, err := secrets.ParseKey(cfg.EncryptionKey); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	src := args[0]
	if err := sqlstore.Restore(ctx, src, cfg.DataDir); err != nil {
		return err
	}
	undo := func(cause error) error {
		db := filepath.Join(cfg.DataDir, sqlstore.FileName)
		var errs []error
		for _, p := range []string{db, db + "-wal", db + "-shm", db + ".migrate-lock"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return errors.Join(append([]error{cause, fmt.Errorf("undo the restore: remove it from %s by hand", cfg.DataDir)}, errs...)...)
		}
		return fmt.Errorf("%w; nothing was restored, %s is empty again", cause, cfg.DataDir)
	}
	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return undo(fmt.Errorf("restore: %w", err))
	}
	from, err := store.SchemaVersion(ctx)
	if err == nil {
		err = store.Migrate(ctx)
	}
	var checkErr error
	if err == nil {
		checkErr = checkRestoredSecrets(ctx, store, cfg.EncryptionKey)
	}
	closeErr := store.Close()
	switch {
	case err != nil:
		return undo(fmt.Errorf("restore: migrate: %w", err))
	case checkErr != nil:
		return undo(checkErr)
	case closeErr != nil:
		return fmt.Errorf("restore: %w", closeErr)
	}
	fmt.Fprintf(stderr, "restored %s into %s (schema %d, now %d)\n", src, cfg.DataDir, from, sqlstore.LatestSchemaVersion())
	return nil
}

// checkRestoredSecrets proves key decrypts every secret of a restored
// store. Its errors say what a restore needs: the key of the installation
// the backup was taken from (a new one from keygen would not do, and
// removing the secrets is no answer when nothing stays restored).
func checkRestoredSecrets(ctx context.Context, store *sqlstore.Store, key string) error {
	const want = "set ENCRYPTION_KEY to the key of the installation the backup was taken from"
	vault, err := secrets.New(store, key)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	err = vault.Check(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, secrets.ErrNoKey):
		list, listErr := vault.List(ctx)
		if listErr != nil {
			return fmt.Errorf("restore: %w", listErr)
		}
		return fmt.Errorf("restore: the backup holds secrets (%d) and ENCRYPTION_KEY is not set: %s", len(list), want)
	case errors.Is(err, secrets.ErrWrongKey):
		// Secrets names the ones that do not decrypt, without Check's
		// advice for a running installation.
		list, listErr := vault.List(ctx)
		if listErr != nil {
			return fmt.Errorf("restore: %w", listErr)
		}
		names := make([]string, 0, len(list))
		for _, s := range list {
			names = append(names, s.Name)
		}
		if _, err2 := vault.Secrets(ctx, names); errors.Is(err2, secrets.ErrWrongKey) {
			err = err2
		}
		return fmt.Errorf("restore: %w: %s", err, want)
	default:
		return fmt.Errorf("restore: %w", err)
	}
}
