package main

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
)

func userRun(t *testing.T, environ []string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	// bcrypt.MinCost: cost 12 takes seconds under -race.
	fast := credentials.Hasher{Cost: bcrypt.MinCost}
	err := userCmdWith(t.Context(), fast, args, strings.NewReader(stdin), &out, &errOut, environ)
	return out.String(), errOut.String(), err
}

func tokenRun(t *testing.T, environ []string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := tokenCmd(t.Context(), args, strings.NewReader(""), &out, &errOut, environ)
	return out.String(), errOut.String(), err
}

func TestUserAddAtProductionCost(t *testing.T) {
	t.Parallel()
	environ, dataDir := adminEnv(t)
	var out, errOut bytes.Buffer
	if err := userCmd(t.Context(), []string{"add", "alice"}, strings.NewReader("first-password\n"), &out, &errOut, environ); err != nil {
		t.Fatalf("user add: %v", err)
	}
	u, err := adminOpen(t, dataDir).GetUser(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(u.PasswordHash)); cost != credentials.PasswordCost {
		t.Errorf("hash cost %d, want %d", cost, credentials.PasswordCost)
	}
	if !credentials.CheckPassword(u.PasswordHash, "first-password") {
		t.Error("the stored hash does not match the password")
	}
}

func TestUserAddPasswd(t *testing.T) {
	t.Parallel()
	environ, dataDir := adminEnv(t)
	store := adminOpen(t, dataDir)

	steps := []struct {
		name     string
		stdin    string
		args     []string
		usage    bool
		wantErr  string // substring; empty: success
		password string // after the step, alice's password
	}{
		{name: "add", stdin: "first-password\n", args: []string{"add", "alice"}, password: "first-password"},
		{name: "add again", stdin: "other-password\n", args: []string{"add", "alice"}, wantErr: "already exists", password: "first-password"},
		{name: "passwd", stdin: "second-password\r\n", args: []string{"passwd", "alice"}, password: "second-password"},
		{name: "only the first line counts", stdin: "third-password\nignored\n", args: []string{"passwd", "alice"}, password: "third-password"},
		{name: "short password", stdin: "short\n", args: []string{"passwd", "alice"}, wantErr: "too short", password: "third-password"},
		{name: "empty stdin", stdin: "", args: []string{"passwd", "alice"}, wantErr: "stdin", password: "third-password"},
		{name: "passwd of nobody", stdin: "some-password\n", args: []string{"passwd", "bob"}, wantErr: "no user bob", password: "third-password"},
		{name: "bad username", stdin: "some-password\n", args: []string{"add", "bad name"}, wantErr: "invalid username", password: "third-password"},
		{name: "password in argv", stdin: "some-password\n", args: []string{"add", "bob", "pw"}, usage: true, password: "third-password"},
		{name: "unknown subcommand", args: []string{"delete", "alice"}, usage: true, password: "third-password"},
	}
	for _, st := range steps {
		_, _, err := userRun(t, environ, st.stdin, st.args...)
		switch {
		case st.usage:
			if !errors.Is(err, errUsage) {
				t.Errorf("%s: err = %v, want usage", st.name, err)
			}
		case st.wantErr == "" && err != nil:
			t.Errorf("%s: %v", st.name, err)
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Errorf("%s: err = %v, want one mentioning %q", st.name, err, st.wantErr)
		}
		u, err := store.GetUser(t.Context(), "alice")
		if err != nil {
			t.Fatalf("%s: GetUser: %v", st.name, err)
		}
		if !credentials.CheckPassword(u.PasswordHash, st.password) {
			t.Errorf("%s: alice's password is not %q", st.name, st.password)
		}
	}
	if _, err := store.GetUser(t.Context(), "bob"); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("bob exists after refused commands: %v", err)
	}
	out, _, err := userRun(t, environ, "", "list")
	if err != nil || !strings.Contains(out, "alice") || strings.Contains(out, "$2") {
		t.Errorf("user list = %q, %v; want alice without her hash", out, err)
	}
}

var tokenRE = regexp.MustCompile(`^ff_[A-Za-z0-9_-]{43}\n$`)

func TestTokenCreateRevoke(t *testing.T) {
	t.Parallel()
	environ, dataDir := adminEnv(t)
	store := adminOpen(t, dataDir)

	if _, _, err := tokenRun(t, environ, "create", "ci"); err == nil || !strings.Contains(err.Error(), "user add") {
		t.Errorf("create without users = %v, want a hint to add a user", err)
	}
	if _, _, err := userRun(t, environ, "alice-password\n", "add", "alice"); err != nil {
		t.Fatal(err)
	}

	// One user: --user may be left out.
	out, errOut, err := tokenRun(t, environ, "create", "ci")
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	if !tokenRE.MatchString(out) {
		t.Fatalf("token create printed %q, want one ff_ token on its own line", out)
	}
	ciToken := strings.TrimSpace(out)
	if strings.Contains(errOut, ciToken) {
		t.Error("the token is printed twice")
	}
	got, err := store.GetAPIToken(t.Context(), credentials.HashToken(ciToken))
	if err != nil {
		t.Fatalf("the printed token's hash is not stored: %v", err)
	}
	if got.Name != "ci" || got.Username != "alice" {
		t.Errorf("stored token = %+v, want ci of alice", got)
	}

	if _, _, err := userRun(t, environ, "bob-password\n", "add", "bob"); err != nil {
		t.Fatal(err)
	}
	create := []struct {
		name    string
		args    []string
		usage   bool
		wantErr string
		user    string
	}{
		{name: "two users need --user", args: []string{"create", "deploy"}, usage: true},
		{name: "flag after name", args: []string{"create", "deploy", "--user", "bob"}, user: "bob"},
		{name: "flag before name with =", args: []string{"create", "--user=alice", "backup"}, user: "alice"},
		{name: "live name taken", args: []string{"create", "ci", "--user", "bob"}, wantErr: "exists"},
		{name: "unknown user", args: []string{"create", "x", "--user", "carol"}, wantErr: "no user carol"},
		{name: "numeric name would clash with IDs", args: []string{"create", "123", "--user", "bob"}, wantErr: "starting with a letter"},
		{name: "no name", args: []string{"create", "--user", "bob"}, usage: true},
		{name: "dangling --user", args: []string{"create", "x", "--user"}, usage: true},
		{name: "unknown flag", args: []string{"create", "x", "--admin"}, usage: true},
	}
	for _, tt := range create {
		out, _, err := tokenRun(t, environ, tt.args...)
		switch {
		case tt.usage:
			if !errors.Is(err, errUsage) {
				t.Errorf("%s: err = %v, want usage", tt.name, err)
			}
			continue
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want one mentioning %q", tt.name, err, tt.wantErr)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		tok, err := store.GetAPIToken(t.Context(), credentials.HashToken(strings.TrimSpace(out)))
		if err != nil || tok.Username != tt.user {
			t.Errorf("%s: stored token %+v, %v; want one of %s", tt.name, tok, err, tt.user)
		}
	}

	list, _, err := tokenRun(t, environ, "list")
	if err != nil {
		t.Fatalf("token list: %v", err)
	}
	for _, want := range []string{"ci", "deploy", "backup", "alice", "bob"} {
		if !strings.Contains(list, want) {
			t.Errorf("token list lacks %s:\n%s", want, list)
		}
	}
	if strings.Contains(list, "ff_") || strings.Contains(list, credentials.HashToken(ciToken)) {
		t.Errorf("token list shows a token or its hash:\n%s", list)
	}

	// Revoke by name, then by ID.
	if _, _, err := tokenRun(t, environ, "revoke", "ci"); err != nil {
		t.Fatalf("revoke by name: %v", err)
	}
	if _, err := store.GetAPIToken(t.Context(), credentials.HashToken(ciToken)); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("revoked token still answers: %v", err)
	}
	if _, _, err := tokenRun(t, environ, "revoke", "ci"); err == nil || !strings.Contains(err.Error(), "no live token ci") {
		t.Errorf("second revoke by name = %v, want not found", err)
	}
	tokens, err := store.ListAPITokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var deploy status.APIToken
	for _, tok := range tokens {
		if tok.Name == "deploy" {
			deploy = tok
		}
	}
	if _, _, err := tokenRun(t, environ, "revoke", strconv.FormatInt(deploy.ID, 10)); err != nil {
		t.Fatalf("revoke by ID: %v", err)
	}
	if _, err := store.GetAPIToken(t.Context(), deploy.Hash); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("token revoked by ID still answers: %v", err)
	}
	if _, _, err := tokenRun(t, environ, "revoke", "99999"); err == nil {
		t.Error("revoking an unknown ID succeeded")
	}
	// A revoked name can be used again.
	if _, _, err := tokenRun(t, environ, "create", "ci", "--user", "alice"); err != nil {
		t.Errorf("re-create after revoke: %v", err)
	}
}
