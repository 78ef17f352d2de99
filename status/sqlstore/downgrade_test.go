package sqlstore_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// TestMigrateRefusesNewerSchema: a binary older than the database (a
// downgrade) refuses to start instead of running on tables it does not
// know, and says what to do.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	migrated(openSQLite(t, sqlstore.Config{DataDir: dir}), t)

	// What a newer Fast-Flow's next migration would leave behind.
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlstore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	next := sqlstore.LatestSchemaVersion() + 1
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, next); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openSQLite(t, sqlstore.Config{DataDir: dir})
	err = s.Migrate(t.Context())
	if !errors.Is(err, sqlstore.ErrSchemaNewer) {
		t.Fatalf("Migrate on a newer schema: %v, want ErrSchemaNewer", err)
	}
	for _, want := range []string{"backup", "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
