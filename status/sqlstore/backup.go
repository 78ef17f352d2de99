package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotEmpty is returned by Restore when the data directory already holds
// something: a restore never merges into, or overwrites, an installation.
var ErrNotEmpty = errors.New("data directory is not empty")

// ErrNoDatabase is returned by Backup when the data directory holds no
// SQLite database (a wrong DATA_DIR, or an installation on PostgreSQL).
var ErrNoDatabase = errors.New("no SQLite database")

// ErrCorrupt is returned when a database fails SQLite's integrity check.
var ErrCorrupt = errors.New("database fails the integrity check")

// ErrNotFastFlow is returned by Restore for an intact SQLite database that
// is not a Fast-Flow one: restoring it would migrate Fast-Flow's tables
// into someone else's database.
var ErrNotFastFlow = errors.New("not a Fast-Flow database")

// BackupResult says what a backup wrote.
type BackupResult struct {
	Path     string
	Bytes    int64
	Duration time.Duration
}

// Backup writes a consistent copy of the SQLite database in dataDir to dst
// while the server keeps writing. VACUUM INTO reads one snapshot inside a
// read transaction, so in WAL mode writers go on and the copy holds exactly
// the rows committed when it began; a file copy of a live WAL database can
// miss the WAL or tear a page. The copy goes to a temporary name beside dst,
// is checked, synced and renamed, so dst is either complete or absent.
// dst must not exist.
func Backup(ctx context.Context, dataDir, dst string) (BackupResult, error) {
	start := time.Now()
	src := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(src); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return BackupResult{}, fmt.Errorf("%w at %s (is DATA_DIR right? with DATABASE_URL use pg_dump)", ErrNoDatabase, src)
		}
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	dst, err := filepath.Abs(dst)
	if err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return BackupResult{}, fmt.Errorf("backup: %s already exists; choose a new file name", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	partial := dst + ".partial"
	// A partial file of an earlier, interrupted backup is ours to replace.
	if err := os.Remove(partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.Remove(partial)
		}
	}()

	// The copy holds password hashes and encrypted secrets: for the owner
	// only, from its first byte. VACUUM INTO would create the file with
	// the umask's mode, readable by all while it is written; it accepts an
	// existing empty file and keeps that file's mode.
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}

	db, err := openReadOnly(src)
	if err != nil {
		return BackupResult{}, err
	}
	defer db.Close()
	// VACUUM INTO takes its target as an SQL string literal.
	if _, err := db.ExecContext(ctx, "VACUUM INTO "+quoteLiteral(partial)); err != nil {
		return BackupResult{}, fmt.Errorf("backup %s: %w", src, err)
	}
	if err := db.Close(); err != nil {
		return BackupResult{}, fmt.Errorf("backup %s: %w", src, err)
	}
	// A umask stricter than 0o077 is fine; a file someone else could read
	// is not.
	if err := os.Chmod(partial, 0o600); err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	if err := IntegrityCheck(ctx, partial); err != nil {
		return BackupResult{}, fmt.Errorf("backup: the copy %w", err)
	}
	if err := syncFile(partial); err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(partial, dst); err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	done = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	info, err := os.Stat(dst)
	if err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	return BackupResult{Path: dst, Bytes: info.Size(), Duration: time.Since(start)}, nil
}

// Restore copies a backup made by Backup into dataDir, which must be
// missing or empty. The backup is checked before anything is written; the
// copy lands under a temporary name and is renamed into place last, so an
// interrupted restore leaves no database a server would start on. Restore
// does not migrate: open the store and Migrate it afterwards, as a start
// would.
func Restore(ctx context.Context, backup, dataDir string) error {
	if err := emptyDir(dataDir); err != nil {
		return err
	}
	if err := IntegrityCheck(ctx, backup); err != nil {
		return fmt.Errorf("restore %s: %w", backup, err)
	}
	if err := checkFastFlow(ctx, backup); err != nil {
		return fmt.Errorf("restore %s: %w", backup, err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("restore: create data dir: %w", err)
	}
	dst := filepath.Join(dataDir, FileName)
	partial := dst + ".restoring"
	if err := copyFile(backup, partial); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(partial, dst); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// sqliteHeader starts every SQLite database file; the whole header is
// 100 bytes.
const sqliteHeader = "SQLite format 3\x00"

// IntegrityCheck runs PRAGMA integrity_check on the SQLite file at path,
// opened read-only, and returns ErrCorrupt with SQLite's findings when it
// does not answer "ok". A file that is not an SQLite database is corrupt
// too, an empty one included (SQLite would take it for an empty database).
func IntegrityCheck(ctx context.Context, path string) error {
	if err := checkHeader(path); err != nil {
		return err
	}
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	defer rows.Close()
	var findings []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check %s: %w", path, err)
		}
		findings = append(findings, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if len(findings) != 1 || findings[0] != "ok" {
		const show = 5
		if len(findings) > show {
			findings = append(findings[:show], fmt.Sprintf("and %d more", len(findings)-show))
		}
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, strings.Join(findings, "; "))
	}
	return nil
}

// checkHeader refuses a file shorter than SQLite's header or one that does
// not start with it.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("integrity check: %s is not a regular file", path)
	}
	head := make([]byte, 100)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("integrity check: %w", err)
	}
	if n < len(head) || string(head[:len(sqliteHeader)]) != sqliteHeader {
		return fmt.Errorf("%w: %s is not an SQLite database (%d bytes, no SQLite header)", ErrCorrupt, path, n)
	}
	// SQLite reads the missing end of a short last page as zeros, so
	// integrity_check passes a truncated file whose lost bytes were free
	// space. A database file is whole pages, always.
	pageSize := int64(binary.BigEndian.Uint16(head[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("%w: %s: page size %d in the header", ErrCorrupt, path, pageSize)
	}
	if info.Size()%pageSize != 0 {
		return fmt.Errorf("%w: %s is truncated: %d bytes is no whole number of %d-byte pages", ErrCorrupt, path, info.Size(), pageSize)
	}
	// The header's page count is valid when its version-valid-for number
	// matches the change counter (SQLite 3.7.0 and later write both).
	if pages := int64(binary.BigEndian.Uint32(head[28:32])); pages > 0 &&
		binary.BigEndian.Uint32(head[92:96]) == binary.BigEndian.Uint32(head[24:28]) && info.Size() < pages*pageSize {
		return fmt.Errorf("%w: %s is truncated: %d bytes, its header counts %d pages of %d bytes", ErrCorrupt, path, info.Size(), pages, pageSize)
	}
	return nil
}

// checkFastFlow refuses an intact SQLite database that no Fast-Flow wrote:
// every one has goose's version table, since a store is migrated before
// first use.
func checkFastFlow(ctx context.Context, path string) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'goose_db_version'").Scan(&n); err != nil {
		return fmt.Errorf("read schema of %s: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s has no Fast-Flow schema (no goose_db_version table)", ErrNotFastFlow, path)
	}
	return nil
}

// openReadOnly opens an SQLite file for reading only, so neither a backup
// nor a check can change the database it reads, and a missing file is an
// error instead of a new empty database.
func openReadOnly(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "10000")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// emptyDir accepts a missing directory or an empty one and refuses
// anything else, naming a few of the entries it found.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	var names []string
	for i, e := range entries {
		if i == 3 {
			names = append(names, "…")
			break
		}
		names = append(names, e.Name())
	}
	return fmt.Errorf("restore into %s: %w (it holds %s); restore into a new, empty DATA_DIR", dir, ErrNotEmpty, strings.Join(names, ", "))
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return errors.Join(fmt.Errorf("copy %s: %w", src, err), out.Close())
	}
	if err := out.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sync %s: %w", dst, err), out.Close())
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sync %s: %w", path, err), f.Close())
	}
	return f.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sync %s: %w", dir, err), d.Close())
	}
	return d.Close()
}
