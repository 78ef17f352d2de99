package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// cliResult is what one `fastflow ...` through run did.
type cliResult struct {
	stdout, stderr string
	code           int // the process's exit status: 1 for a plain error
	err            error
}

// fastflow drives the whole CLI as main does, with stdin and an
// environment.
func fastflow(t *testing.T, environ []string, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, strings.NewReader(stdin), &out, &errOut, environ)
	r := cliResult{stdout: out.String(), stderr: errOut.String(), err: err}
	var exit exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.code
	default:
		r.code = 1
	}
	return r
}

// mustRun is fastflow for a command that must succeed.
func mustRun(t *testing.T, environ []string, stdin string, args ...string) cliResult {
	t.Helper()
	r := fastflow(t, environ, stdin, args...)
	if r.code != 0 {
		t.Fatalf("fastflow %s: exit %d, %v\nstderr: %s", strings.Join(args, " "), r.code, r.err, r.stderr)
	}
	return r
}

// withEnv replaces (or adds) KEY=VALUE settings in environ.
func withEnv(environ []string, kvs ...string) []string {
	out := slices.Clone(environ)
	for _, kv := range kvs {
		key, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, key+"=") })
		out = append(out, kv)
	}
	return out
}

// TestBackupRestoreCLI: an installation with a secret, a user and a token
// is backed up with `fastflow backup` and restored with `fastflow restore`
// into a new DATA_DIR. With the same ENCRYPTION_KEY everything is there and
// the secret decrypts to its value; with another key, or none, the restore
// fails naming ENCRYPTION_KEY and leaves the new DATA_DIR empty, so a
// second try with the right key succeeds there.
func TestBackupRestoreCLI(t *testing.T) {
	t.Parallel()
	key := strings.TrimSpace(mustRun(t, nil, "", "keygen").stdout)
	environ, dataDir := adminEnv(t, "ENCRYPTION_KEY="+key)

	const secretValue = "tok-3f2c-very-secret"
	mustRun(t, environ, secretValue+"\n", "secret", "set", "API_TOKEN")
	mustRun(t, environ, "alice-password\n", "user", "add", "alice")
	token := strings.TrimSpace(mustRun(t, environ, "", "token", "create", "ci", "--user", "alice").stdout)
	// The restored hash must be these bytes; comparing them is as good as
	// a bcrypt check at cost 12, which takes seconds under -race.
	alice, err := adminOpen(t, dataDir).GetUser(t.Context(), "alice")
	if err != nil || !credentials.CheckPassword(alice.PasswordHash, "alice-password") {
		t.Fatalf("user add stored %+v, %v", alice, err)
	}

	file := filepath.Join(t.TempDir(), "fastflow-backup.db")
	r := mustRun(t, environ, "", "backup", file)
	if !strings.Contains(r.stderr, file) || !strings.Contains(r.stderr, "ENCRYPTION_KEY") {
		t.Errorf("backup said %q; want the file and a reminder to keep ENCRYPTION_KEY", r.stderr)
	}
	if r := fastflow(t, environ, "", "backup", file); r.code != 1 || !strings.Contains(r.err.Error(), "already exists") {
		t.Errorf("a second backup to the same file: exit %d, %v; want 1, already exists", r.code, r.err)
	}

	other := testKey(t)
	refusals := []struct {
		name string
		key  string // "": ENCRYPTION_KEY unset
		// restored: the backup was copied before the key was refused,
		// and the restore undone; otherwise nothing was written at all.
		restored bool
	}{
		{name: "another key", key: other, restored: true},
		{name: "no key", key: "", restored: true},
		{name: "a malformed key", key: "not-a-fernet-key"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, newDir := adminEnv(t)
			if tt.key != "" {
				env = withEnv(env, "ENCRYPTION_KEY="+tt.key)
			}
			r := fastflow(t, env, "", "restore", file)
			if r.code != 1 {
				t.Fatalf("restore with %s: exit %d (%v), want 1", tt.name, r.code, r.err)
			}
			msg := r.err.Error()
			if !strings.Contains(msg, "ENCRYPTION_KEY") {
				t.Errorf("restore with %s said %q; want it to name ENCRYPTION_KEY", tt.name, msg)
			}
			if tt.restored && (!strings.Contains(msg, "empty again") || !strings.Contains(msg, "the key of the installation the backup was taken from")) {
				t.Errorf("restore with %s said %q; want it to ask for the backed-up installation's key and say nothing was restored", tt.name, msg)
			}
			if tt.restored && strings.Contains(msg, "secret rm") {
				t.Errorf("restore with %s advises removing secrets, which were not restored: %q", tt.name, msg)
			}
			if tt.key == other && !strings.Contains(msg, "API_TOKEN") {
				t.Errorf("restore with another key said %q; want the secret it cannot decrypt named", msg)
			}
			if strings.Contains(r.err.Error(), tt.key) && tt.key != "" {
				t.Errorf("the error echoes the key")
			}
			t.Logf("restore with %s: %v", tt.name, r.err)
			if got := dirEntries(t, newDir); len(got) != 0 {
				t.Fatalf("after a refused restore DATA_DIR holds %q, want it empty", got)
			}
			// The next try, with the right key, starts clean.
			mustRun(t, withEnv(env, "ENCRYPTION_KEY="+key), "", "restore", file)
			checkRestored(t, newDir, key, secretValue, token, alice.PasswordHash)
		})
	}

	t.Run("same key", func(t *testing.T) {
		t.Parallel()
		env, newDir := adminEnv(t, "ENCRYPTION_KEY="+key)
		r := mustRun(t, env, "", "restore", file)
		if !strings.Contains(r.stderr, "restored") {
			t.Errorf("restore said %q", r.stderr)
		}
		list := mustRun(t, env, "", "secret", "list").stdout
		if !strings.Contains(list, "API_TOKEN") || strings.Contains(list, secretValue) {
			t.Errorf("secret list after restore = %q; want API_TOKEN without its value", list)
		}
		checkRestored(t, newDir, key, secretValue, token, alice.PasswordHash)

		// A restore never lands on an installation.
		r = fastflow(t, env, "", "restore", file)
		if r.code != 1 || !errors.Is(r.err, sqlstore.ErrNotEmpty) {
			t.Errorf("restore into the restored DATA_DIR: exit %d, %v; want 1, ErrNotEmpty", r.code, r.err)
		}
		checkRestored(t, newDir, key, secretValue, token, alice.PasswordHash)
	})
}

// checkRestored opens a restored DATA_DIR and checks the secret decrypts
// to value with key, and the user (with her password hash) and the token
// are there.
func checkRestored(t *testing.T, dataDir, key, value, token, passwordHash string) {
	t.Helper()
	store := adminOpen(t, dataDir)
	ctx := t.Context()
	vault, err := secrets.New(store, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vault.Secrets(ctx, []string{"API_TOKEN"})
	if err != nil {
		t.Fatalf("restored secret: %v", err)
	}
	if got["API_TOKEN"] != value {
		t.Errorf("restored secret decrypts to %q, want %q", got["API_TOKEN"], value)
	}
	u, err := store.GetUser(ctx, "alice")
	if err != nil {
		t.Fatalf("restored user: %v", err)
	}
	if u.PasswordHash != passwordHash {
		t.Errorf("the restored user's password hash is %q, want %q", u.PasswordHash, passwordHash)
	}
	tok, err := store.GetAPIToken(ctx, credentials.HashToken(token))
	if err != nil || tok.Name != "ci" || tok.Username != "alice" {
		t.Errorf("restored token = %+v, %v; want ci of alice", tok, err)
	}
	v, err := store.SchemaVersion(ctx)
	if err != nil || v != sqlstore.LatestSchemaVersion() {
		t.Errorf("restored schema version = %d, %v; want %d", v, err, sqlstore.LatestSchemaVersion())
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestBackupRestoreRefusals: what backup and restore refuse before they
// touch anything, and the exit status each gets.
func TestBackupRestoreRefusals(t *testing.T) {
	t.Parallel()
	environ, _ := adminEnv(t)
	pg := withEnv(environ, "DATABASE_URL=postgres://fastflow@127.0.0.1:1/fastflow")
	file := filepath.Join(t.TempDir(), "backup.db")
	notSQLite := filepath.Join(t.TempDir(), "dump.sql")
	if err := os.WriteFile(notSQLite, []byte("-- PostgreSQL database dump\n"+strings.Repeat("x", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		environ  []string
		args     []string
		wantCode int
		want     string // in the error, or on stderr for usage
	}{
		{name: "backup on PostgreSQL", environ: pg, args: []string{"backup", file}, wantCode: 1, want: "pg_dump"},
		{name: "restore on PostgreSQL", environ: pg, args: []string{"restore", file}, wantCode: 1, want: "pg_restore"},
		{name: "backup without a database", environ: environ, args: []string{"backup", file}, wantCode: 1, want: "no SQLite database"},
		{name: "restore of a missing file", environ: environ, args: []string{"restore", file}, wantCode: 1, want: "backup.db"},
		{name: "restore of a file that is not SQLite", environ: environ, args: []string{"restore", notSQLite}, wantCode: 1, want: "not an SQLite database"},
		{name: "backup without FILE", environ: environ, args: []string{"backup"}, wantCode: 2, want: "Usage: fastflow backup FILE"},
		{name: "backup of two files", environ: environ, args: []string{"backup", "a", "b"}, wantCode: 2, want: "Usage: fastflow backup FILE"},
		{name: "restore without FILE", environ: environ, args: []string{"restore"}, wantCode: 2, want: "Usage: fastflow restore FILE"},
		{name: "restore with a flag", environ: environ, args: []string{"restore", "--force", file}, wantCode: 2, want: "unknown flag --force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fastflow(t, tt.environ, "", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d\nstderr: %s", r.code, r.err, tt.wantCode, r.stderr)
			}
			got := r.stderr
			if tt.wantCode == 1 {
				got = r.err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("said %q, want %q in it", got, tt.want)
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused command wrote %s", file)
			}
		})
	}
}
