package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fastflow-dev/fastflow/internal/testenv"
)

const (
	// PostgresURLEnv names the variable holding the URL of a PostgreSQL
	// server where the tests may create and drop databases.
	PostgresURLEnv = "FASTFLOW_TEST_POSTGRES_URL"
	// DefaultPostgresURL is the server CI brings up (.ci/run), also used
	// when PostgresURLEnv is unset.
	DefaultPostgresURL = "postgres://fastflow:fastflow@127.0.0.1:5432/postgres?sslmode=disable"
)

// Postgres returns the URL of a new, empty database on the test server,
// dropped when the test ends. Without a reachable server, or under -short,
// it skips the test on a developer machine and fails it when CI=true: a
// green CI must mean the PostgreSQL tests ran.
func Postgres(t testing.TB) string {
	t.Helper()
	if testing.Short() && !testenv.InCI() {
		t.Skip("PostgreSQL tests skipped in -short mode")
	}
	admin := os.Getenv(PostgresURLEnv)
	if admin == "" {
		admin = DefaultPostgresURL
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s does not parse as a URL", PostgresURLEnv)
	}
	unavailable := func(err error) {
		t.Helper()
		testenv.Require(t, "PostgreSQL", fmt.Errorf("%s is not usable (%w); start one (scripts/test-env.sh) or set %s",
			u.Redacted(), err, PostgresURLEnv))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		unavailable(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	name := "ff_" + randomHex(t, 8)
	// The name is ours and only [a-z0-9_], so it needs no quoting.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		unavailable(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends connections a failed test may have leaked.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})

	db := *u
	db.Path = "/" + name
	return db.String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return hex.EncodeToString(b)
}
