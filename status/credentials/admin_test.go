package credentials_test

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// newStore is a migrated SQLite store in the test's temporary directory,
// closed when the test ends.
func newStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate store: %v", err)
	}
	return s
}

func TestEnsureAdmin(t *testing.T) {
	t.Parallel()
	fast := credentials.Hasher{Cost: bcrypt.MinCost}
	tests := []struct {
		name          string
		existing      string // a user already there
		username, pw  string
		wantUser      string
		wantGenerated bool
		wantErr       error
	}{
		{name: "first start with a password", username: "root", pw: "given-password", wantUser: "root"},
		{name: "first start without a password generates one", username: "root", wantUser: "root", wantGenerated: true},
		{name: "default username", pw: "given-password", wantUser: credentials.DefaultAdminUsername},
		{name: "users exist: nothing changes", existing: "jane", username: "root", pw: "given-password", wantUser: ""},
		{name: "short password is refused", username: "root", pw: "short", wantErr: credentials.ErrWeakPassword},
		{name: "bad username is refused", username: "no spaces", pw: "given-password", wantErr: credentials.ErrInvalidUsername},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			store := newStore(t)
			if tt.existing != "" {
				if _, err := store.CreateUser(ctx, tt.existing, "$2a$04$x"); err != nil {
					t.Fatal(err)
				}
			}
			gen, err := fast.EnsureAdmin(ctx, store, tt.username, tt.pw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("EnsureAdmin err = %v, want %v", err, tt.wantErr)
			}
			if (gen != "") != tt.wantGenerated {
				t.Errorf("generated = %q, want generated=%v", gen, tt.wantGenerated)
			}
			users, _ := store.ListUsers(ctx)
			if tt.wantErr != nil || tt.wantUser == "" {
				if len(users) != boolInt(tt.existing != "") {
					t.Errorf("users = %v, want none created", users)
				}
				return
			}
			u, err := store.GetUser(ctx, tt.wantUser)
			if err != nil {
				t.Fatalf("GetUser(%s): %v", tt.wantUser, err)
			}
			pw := tt.pw
			if tt.wantGenerated {
				pw = gen
				if len(gen) < 20 {
					t.Errorf("generated password %q is short", gen)
				}
			}
			if !credentials.CheckPassword(u.PasswordHash, pw) {
				t.Error("the admin cannot log in with the password")
			}
			// A second start changes nothing and prints no new password.
			again, err := fast.EnsureAdmin(ctx, store, tt.username, "")
			if err != nil || again != "" {
				t.Errorf("second EnsureAdmin = %q, %v; want nothing", again, err)
			}
		})
	}
}

// conflictStore loses the race for the first user to another replica.
type conflictStore struct{ status.AuthStore }

var _ status.AuthStore = conflictStore{}

func (c conflictStore) CreateUser(ctx context.Context, username, hash string) (status.User, error) {
	return status.User{}, status.ErrConflict
}

func TestEnsureAdminLosesRaceQuietly(t *testing.T) {
	t.Parallel()
	gen, err := credentials.Hasher{Cost: bcrypt.MinCost}.EnsureAdmin(t.Context(), conflictStore{newStore(t)}, "admin", "")
	if err != nil || gen != "" {
		t.Errorf("EnsureAdmin = %q, %v; want no password and no error: the other replica printed its own", gen, err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestEnsureAdminAtProductionCost(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	gen, err := credentials.EnsureAdmin(t.Context(), store, "", "")
	if err != nil || gen == "" {
		t.Fatalf("EnsureAdmin = %q, %v", gen, err)
	}
	u, err := store.GetUser(t.Context(), credentials.DefaultAdminUsername)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(u.PasswordHash)); cost != credentials.PasswordCost {
		t.Errorf("admin hash cost = %d, want %d", cost, credentials.PasswordCost)
	}
}
