package sqlstore

import (
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// TestListRunsQueryPlan keeps run listings index-backed on SQLite: no full
// scan of runs and no sort of the result, for each filter the API offers.
// With 100k runs either would turn a page into a table scan.
func TestListRunsQueryPlan(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Config{DataDir: t.TempDir(), CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	// ANALYZE data is absent on a fresh database, as in production after
	// install: the plan must be good without it.
	cursor := status.RunCursor{QueuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ID: "0193"}.Encode()
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		f    status.RunFilter
	}{
		{"all, newest first", status.RunFilter{}},
		{"all, oldest first, with cursor", status.RunFilter{Order: status.OrderAsc, Cursor: cursor}},
		{"pipeline with cursor", status.RunFilter{Pipeline: "hello", Cursor: cursor}},
		{"one status with cursor", status.RunFilter{Statuses: []status.RunStatus{status.RunFailed}, Cursor: cursor}},
		{"time window", status.RunFilter{Since: day, Until: day.Add(24 * time.Hour)}},
		{"pipeline and window", status.RunFilter{Pipeline: "hello", Since: day, Order: status.OrderAsc}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args, _, err := s.listRunsQuery(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(plan, "; ")
			t.Logf("plan: %s", all)
			if !strings.Contains(all, "USING INDEX") && !strings.Contains(all, "USING COVERING INDEX") {
				t.Errorf("plan does not use an index: %s", all)
			}
			if strings.Contains(all, "TEMP B-TREE") {
				t.Errorf("plan sorts the result: %s", all)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    dialect
		in   string
		want string
	}{
		{"sqlite keeps question marks", sqliteDialect(), "a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)"},
		{"postgres numbers them", postgresDialect(), "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"postgres without placeholders", postgresDialect(), "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		if got := tt.d.rebind(tt.in); got != tt.want {
			t.Errorf("%s: rebind(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}
