package secrets_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

// databases runs fn against a fresh, migrated store of each database.
func databases(t *testing.T, fn func(t *testing.T, store *sqlstore.Store)) {
	t.Helper()
	for _, db := range []struct {
		name string
		cfg  func(t *testing.T) sqlstore.Config
	}{
		{"sqlite", func(t *testing.T) sqlstore.Config { return sqlstore.Config{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) sqlstore.Config { return sqlstore.Config{DatabaseURL: storetest.Postgres(t)} }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlstore.Open(t.Context(), db.cfg(t))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			fn(t, s)
		})
	}
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := secrets.GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	return k
}

func newVault(t *testing.T, store status.SecretStore, key string) *secrets.Vault {
	t.Helper()
	v, err := secrets.New(store, key)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// plainValues are chosen so that a leak is visible: text, a multi-line PEM-like
// value, and bytes that are not UTF-8 text.
var plainValues = map[string]string{
	"DB_PASSWORD": "hunter2-correct-horse",
	"PEM_KEY":     "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n",
	"_BINARYISH":  "\x00\xff\xfe tail",
}

func TestVaultRoundTripEncryptsAtRest(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, store *sqlstore.Store) {
		ctx := t.Context()
		v := newVault(t, store, newKey(t))
		for name, val := range plainValues {
			if err := v.Set(ctx, name, val); err != nil {
				t.Fatalf("Set(%s): %v", name, err)
			}
		}
		if err := v.Check(ctx); err != nil {
			t.Fatalf("Check with the right key: %v", err)
		}
		for name, val := range plainValues {
			raw, err := store.GetSecret(ctx, name)
			if err != nil {
				t.Fatalf("GetSecret(%s): %v", name, err)
			}
			if len(raw.Value) == 0 || bytes.Contains(raw.Value, []byte(val)) {
				t.Errorf("%s is stored as %q: want ciphertext without the plain value", name, raw.Value)
			}
		}
		names := []string{"DB_PASSWORD", "PEM_KEY", "_BINARYISH", "DB_PASSWORD"}
		got, err := v.Secrets(ctx, names)
		if err != nil {
			t.Fatalf("Secrets: %v", err)
		}
		if diff := cmp.Diff(plainValues, got); diff != "" {
			t.Errorf("Secrets (-want +got):\n%s", diff)
		}

		// Replacing keeps one row and the new value.
		if err := v.Set(ctx, "DB_PASSWORD", "rotated"); err != nil {
			t.Fatalf("Set again: %v", err)
		}
		got, err = v.Secrets(ctx, []string{"DB_PASSWORD"})
		if err != nil || got["DB_PASSWORD"] != "rotated" {
			t.Errorf("after replace: Secrets = %v, %v; want rotated", len(got), err)
		}

		// Only what is asked for comes back.
		got, err = v.Secrets(ctx, []string{"PEM_KEY"})
		if err != nil {
			t.Fatalf("Secrets(PEM_KEY): %v", err)
		}
		if len(got) != 1 {
			t.Errorf("Secrets(PEM_KEY) returned %d values, want 1", len(got))
		}
		got, err = v.Secrets(ctx, nil)
		if err != nil || len(got) != 0 {
			t.Errorf("Secrets(nil) = %d values, %v; want none", len(got), err)
		}
	})
}

func TestVaultListHasNoValues(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, store *sqlstore.Store) {
		ctx := t.Context()
		v := newVault(t, store, newKey(t))
		for _, name := range []string{"B", "A"} {
			if err := v.Set(ctx, name, "value-of-"+name); err != nil {
				t.Fatalf("Set: %v", err)
			}
		}
		list, err := v.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
			if s.CreatedAt.IsZero() || s.UpdatedAt.IsZero() {
				t.Errorf("%s: dates not set: %+v", s.Name, s)
			}
		}
		if diff := cmp.Diff([]string{"A", "B"}, names); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
		if dump := strings.Join(strings.Fields(sprintAll(list)), " "); strings.Contains(dump, "value-of-") {
			t.Errorf("List leaks values: %s", dump)
		}

		// Listing needs no key.
		list, err = newVault(t, store, "").List(ctx)
		if err != nil || len(list) != 2 {
			t.Errorf("List without key = %d, %v; want 2 secrets", len(list), err)
		}
	})
}

func sprintAll(list []secrets.Info) string {
	var b strings.Builder
	for _, s := range list {
		b.WriteString(s.Name + " " + s.CreatedAt.String() + " " + s.UpdatedAt.String() + "\n")
	}
	return b.String()
}

func TestVaultWrongOrMissingKey(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, store *sqlstore.Store) {
		ctx := t.Context()
		const value = "the-plain-value-42"
		if err := newVault(t, store, newKey(t)).Set(ctx, "TOKEN", value); err != nil {
			t.Fatalf("Set: %v", err)
		}
		wrong := newVault(t, store, newKey(t))
		none := newVault(t, store, "")

		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"check with a wrong key", func() error { return wrong.Check(ctx) }, secrets.ErrWrongKey},
			{"secrets with a wrong key", func() error { _, err := wrong.Secrets(ctx, []string{"TOKEN"}); return err }, secrets.ErrWrongKey},
			{"set with a wrong key keeps the store single-keyed", func() error { return wrong.Set(ctx, "OTHER", "x") }, secrets.ErrWrongKey},
			{"check without a key while secrets are stored", func() error { return none.Check(ctx) }, secrets.ErrNoKey},
			{"secrets without a key", func() error { _, err := none.Secrets(ctx, []string{"TOKEN"}); return err }, secrets.ErrNoKey},
			{"set without a key", func() error { return none.Set(ctx, "OTHER", "x") }, secrets.ErrNoKey},
		}
		for _, tt := range tests {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
				continue
			}
			if strings.Contains(err.Error(), value) {
				t.Errorf("%s: error leaks the value: %v", tt.name, err)
			}
			if tt.want == secrets.ErrWrongKey && !strings.Contains(err.Error(), "TOKEN") {
				t.Errorf("%s: error does not name the secret: %v", tt.name, err)
			}
		}
		if tt := "keygen"; !strings.Contains(secrets.ErrNoKey.Error(), tt) {
			t.Errorf("ErrNoKey does not say to run %s: %v", tt, secrets.ErrNoKey)
		}
		if _, err := store.GetSecret(ctx, "OTHER"); !errors.Is(err, status.ErrNotFound) {
			t.Errorf("a refused Set stored something: %v", err)
		}
		// A wrong key can still clean up.
		if err := wrong.Delete(ctx, "TOKEN"); err != nil {
			t.Errorf("Delete with a wrong key: %v", err)
		}
		if err := wrong.Check(ctx); err != nil {
			t.Errorf("Check on an empty store: %v", err)
		}
	})
}

func TestVaultEmptyStoreNeedsNoKey(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, store *sqlstore.Store) {
		if err := newVault(t, store, "").Check(t.Context()); err != nil {
			t.Errorf("Check without key and without secrets: %v", err)
		}
	})
}

func TestVaultMissingSecretsAreNamed(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, store *sqlstore.Store) {
		ctx := t.Context()
		v := newVault(t, store, newKey(t))
		if err := v.Set(ctx, "PRESENT", "yes"); err != nil {
			t.Fatalf("Set: %v", err)
		}
		tests := []struct {
			names   []string
			missing []string
		}{
			{[]string{"ABSENT"}, []string{"ABSENT"}},
			{[]string{"PRESENT", "ONE", "TWO", "ONE"}, []string{"ONE", "TWO"}},
			{[]string{"not-an-env-name"}, []string{"not-an-env-name"}},
		}
		for _, tt := range tests {
			got, err := v.Secrets(ctx, tt.names)
			if !errors.Is(err, secrets.ErrMissing) {
				t.Errorf("Secrets(%v) = %v, %v; want ErrMissing", tt.names, got, err)
				continue
			}
			if got != nil {
				t.Errorf("Secrets(%v) returned values with an error", tt.names)
			}
			for _, m := range tt.missing {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Secrets(%v): %q does not name %s", tt.names, err, m)
				}
			}
			if strings.Contains(err.Error(), "PRESENT") {
				t.Errorf("Secrets(%v): %q names a secret that exists", tt.names, err)
			}
		}
	})
}

func TestVaultDelete(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, store *sqlstore.Store) {
		ctx := t.Context()
		v := newVault(t, store, newKey(t))
		if err := v.Set(ctx, "GONE", "soon"); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if err := v.Delete(ctx, "GONE"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		err := v.Delete(ctx, "GONE")
		if !errors.Is(err, secrets.ErrNotFound) || !errors.Is(err, status.ErrNotFound) {
			t.Errorf("second Delete = %v, want secrets.ErrNotFound wrapping status.ErrNotFound", err)
		}
		if _, err := v.Secrets(ctx, []string{"GONE"}); !errors.Is(err, secrets.ErrMissing) {
			t.Errorf("Secrets after Delete = %v, want ErrMissing", err)
		}
	})
}

func TestVaultRefusesBadInput(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, store *sqlstore.Store) {
		ctx := t.Context()
		v := newVault(t, store, newKey(t))
		tests := []struct {
			name, value string
			want        error
		}{
			{"", "v", secrets.ErrInvalidName},
			{"1ABC", "v", secrets.ErrInvalidName},
			{"WITH-DASH", "v", secrets.ErrInvalidName},
			{"WITH SPACE", "v", secrets.ErrInvalidName},
			{"A=B", "v", secrets.ErrInvalidName},
			{"ÜMLAUT", "v", secrets.ErrInvalidName},
			{strings.Repeat("A", secrets.MaxNameLen+1), "v", secrets.ErrInvalidName},
			{"EMPTY", "", secrets.ErrInvalidValue},
			{"HUGE", strings.Repeat("x", secrets.MaxValueLen+1), secrets.ErrInvalidValue},
			{"ok_Name9", "v", nil},
			{"_", "v", nil},
		}
		for _, tt := range tests {
			err := v.Set(ctx, tt.name, tt.value)
			if !errors.Is(err, tt.want) {
				t.Errorf("Set(%.20q) = %v, want %v", tt.name, err, tt.want)
			}
		}
		if err := v.Delete(ctx, "bad-name"); !errors.Is(err, secrets.ErrInvalidName) {
			t.Errorf("Delete(bad-name) = %v, want ErrInvalidName", err)
		}
	})
}
