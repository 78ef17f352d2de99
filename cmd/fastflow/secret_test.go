package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// adminEnv is the environment of one admin-command test: its own SQLite
// database in a temporary DATA_DIR, quiet logs, and extra settings.
func adminEnv(t *testing.T, extra ...string) (environ []string, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	return append([]string{
		"DATA_DIR=" + dataDir,
		"LOGS_DIR=" + filepath.Join(dir, "logs"),
		"LOG_LEVEL=warn",
	}, extra...), dataDir
}

// adminOpen opens the database the commands wrote, to check it directly.
func adminOpen(t *testing.T, dataDir string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Config{DataDir: dataDir})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testKey(t *testing.T) string {
	t.Helper()
	k, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretRun runs one `fastflow secret ...` with stdin and returns stdout,
// stderr and the error.
func secretRun(t *testing.T, environ []string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := secretCmd(t.Context(), args, strings.NewReader(stdin), &out, &errOut, environ)
	return out.String(), errOut.String(), err
}

func TestKeygenPrintsAFernetKey(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	if err := keygenCmd(&a); err != nil {
		t.Fatal(err)
	}
	if err := keygenCmd(&b); err != nil {
		t.Fatal(err)
	}
	k := strings.TrimSuffix(a.String(), "\n")
	if raw, err := base64.URLEncoding.DecodeString(k); err != nil || len(raw) != 32 || strings.Contains(k, "\n") {
		t.Errorf("keygen printed %q: want one line with 32 bytes of URL-safe base64", a.String())
	}
	if a.String() == b.String() {
		t.Error("keygen printed the same key twice")
	}
	if _, err := secrets.New(adminOpen(t, t.TempDir()), k); err != nil {
		t.Errorf("the printed key is refused: %v", err)
	}
}

func TestSecretSetListRm(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	environ, dataDir := adminEnv(t, "ENCRYPTION_KEY="+key)

	tests := []struct {
		name      string
		stdin     string
		wantValue string
	}{
		{"ONE_LINE", "s3cret-value\n", "s3cret-value"},
		{"CRLF_LINE", "windows-value\r\n", "windows-value"},
		{"NO_NEWLINE", "bare-value", "bare-value"},
		{"MULTI_LINE", "line one\nline two\n", "line one\nline two\n"},
		{"TRAILING_SPACE", "spaced \n", "spaced "},
	}
	for _, tt := range tests {
		out, _, err := secretRun(t, environ, tt.stdin, "set", tt.name)
		if err != nil {
			t.Fatalf("secret set %s: %v", tt.name, err)
		}
		if strings.Contains(out, tt.wantValue) {
			t.Errorf("secret set %s printed the value", tt.name)
		}
	}

	vault, err := secrets.New(adminOpen(t, dataDir), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		got, err := vault.Secrets(t.Context(), []string{tt.name})
		if err != nil {
			t.Fatalf("read %s back: %v", tt.name, err)
		}
		if got[tt.name] != tt.wantValue {
			t.Errorf("%s = %q, want %q", tt.name, got[tt.name], tt.wantValue)
		}
	}

	out, _, err := secretRun(t, environ, "", "list")
	if err != nil {
		t.Fatalf("secret list: %v", err)
	}
	for _, tt := range tests {
		if !strings.Contains(out, tt.name) {
			t.Errorf("secret list does not show %s:\n%s", tt.name, out)
		}
		if strings.Contains(out, strings.TrimSpace(tt.wantValue)) {
			t.Errorf("secret list shows the value of %s:\n%s", tt.name, out)
		}
	}

	if _, _, err := secretRun(t, environ, "", "rm", "ONE_LINE"); err != nil {
		t.Fatalf("secret rm: %v", err)
	}
	out, _, _ = secretRun(t, environ, "", "list")
	if strings.Contains(out, "ONE_LINE") {
		t.Errorf("removed secret still listed:\n%s", out)
	}
	if _, _, err := secretRun(t, environ, "", "rm", "ONE_LINE"); err == nil || !strings.Contains(err.Error(), "no secret ONE_LINE") {
		t.Errorf("second rm = %v, want a clear not-found error", err)
	}
}

func TestSecretErrors(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	environ, _ := adminEnv(t, "ENCRYPTION_KEY="+key)
	if _, _, err := secretRun(t, environ, "stored-value\n", "set", "STORED"); err != nil {
		t.Fatalf("seed: %v", err)
	}
	withKey := func(k string) []string {
		e := append([]string(nil), environ...)
		return append(e, "ENCRYPTION_KEY="+k) // later entries win in loadEnv
	}

	tests := []struct {
		name     string
		environ  []string
		stdin    string
		args     []string
		usage    bool
		want     error
		contains []string
	}{
		{name: "wrong key on set", environ: withKey(testKey(t)), stdin: "x\n", args: []string{"set", "NEW"},
			want: secrets.ErrWrongKey, contains: []string{"STORED", "ENCRYPTION_KEY"}},
		{name: "missing key on set names keygen", environ: withKey(""), stdin: "x\n", args: []string{"set", "NEW"},
			want: secrets.ErrNoKey, contains: []string{"fastflow keygen", "ENCRYPTION_KEY"}},
		{name: "malformed key", environ: withKey("not-a-key"), stdin: "x\n", args: []string{"set", "NEW"},
			want: secrets.ErrInvalidKey, contains: []string{"keygen"}},
		{name: "invalid name", environ: environ, stdin: "x\n", args: []string{"set", "BAD-NAME"},
			want: secrets.ErrInvalidName},
		{name: "empty stdin", environ: environ, stdin: "", args: []string{"set", "EMPTY"},
			contains: []string{"stdin"}},
		{name: "only a newline", environ: environ, stdin: "\n", args: []string{"set", "EMPTY"},
			contains: []string{"stdin"}},
		{name: "value on the command line", environ: environ, args: []string{"set", "NAME", "value"}, usage: true},
		{name: "no subcommand", environ: environ, usage: true},
		{name: "unknown subcommand", environ: environ, args: []string{"get", "STORED"}, usage: true},
		{name: "list with arguments", environ: environ, args: []string{"list", "x"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := secretRun(t, tt.environ, tt.stdin, tt.args...)
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.usage && !errors.Is(err, errUsage):
				t.Errorf("err = %v, want a usage error", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q does not mention %q", err, c)
				}
			}
			if strings.Contains(err.Error(), "stored-value") {
				t.Errorf("error leaks a value: %v", err)
			}
		})
	}

	// Listing works with a wrong key but warns.
	out, errOut, err := secretRun(t, withKey(testKey(t)), "", "list")
	if err != nil || !strings.Contains(out, "STORED") {
		t.Errorf("list with a wrong key = %q, %v; want the names", out, err)
	}
	if !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "STORED") {
		t.Errorf("list with a wrong key does not warn: %q", errOut)
	}
}

func TestReadSecretValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		err      bool
	}{
		{"v\n", "v", false},
		{"v", "v", false},
		{"v\r\n", "v", false},
		{"a\nb", "a\nb", false},
		{"a\nb\n", "a\nb\n", false},
		{"\n\n", "\n\n", false},
		{"", "", true},
		{"\n", "", true},
		{strings.Repeat("x", secrets.MaxValueLen+1), "", true},
	}
	for _, tt := range tests {
		got, err := readSecretValue(strings.NewReader(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("readSecretValue(%.20q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
