package sqlstore

import (
	"fmt"
	"slices"
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
	s := newPlanStore(t)
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
			all := strings.Join(queryPlan(t, s, q, args...), "; ")
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

// newPlanStore is a migrated, empty SQLite store for reading plans.
func newPlanStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{DataDir: t.TempDir(), CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, one detail a step.
func queryPlan(t *testing.T, s *Store, q string, args ...any) []string {
	t.Helper()
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
	return plan
}

// TestRetentionQueryPlan keeps the retention sweep's statements on
// indexes on SQLite: no step scans a whole table. Each runs once per
// batch of 500, so a scan would make a sweep over 100,000 runs read the
// table 200 times (BenchmarkRetentionSweep in operator).
func TestRetentionQueryPlan(t *testing.T) {
	t.Parallel()
	s := newPlanStore(t)
	cut := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := idArgs([]string{"a", "b", "c"})
	fires, runs := deleteRunsStatements(len(ids))
	type statement struct {
		name string
		q    string
		args []any
		// index, when set, is the index the outer query must search.
		index string
	}
	tests := []statement{
		{"delete the fires of runs", fires, append(slices.Clone(ids), ids...), "schedule_fires_run"},
		{"delete runs (and null their retries' retry_of)", runs, ids, ""},
	}
	for _, q := range []struct {
		name  string
		q     status.RetentionQuery
		index string
	}{
		{"rows due by age", status.RetentionQuery{Pipeline: "hello", Before: cut, Rows: true}, "runs_pipeline_queued"},
		// Across pipelines, oldest first, off the time index: the
		// batch's rows share their pages.
		{"rows due by age, every pipeline", status.RetentionQuery{Before: cut, Rows: true}, "runs_queued"},
		// The files rules walk only the runs that still have files.
		{"files due by age", status.RetentionQuery{Pipeline: "hello", Before: cut}, "runs_with_files"},
		{"files due by count", status.RetentionQuery{Pipeline: "hello", KeepRuns: 50}, "runs_with_files"},
		{"files due by count or age", status.RetentionQuery{Pipeline: "hello", KeepRuns: 50, Before: cut}, "runs_with_files"},
	} {
		sql, args := s.runsDueQuery(q.q)
		tests = append(tests, statement{q.name, sql, args, q.index})
	}
	for i, q := range recordsBeforeStatements {
		tests = append(tests, statement{fmt.Sprintf("records before, statement %d", i), q, []any{s.d.timeArg(cut), 500}, ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := queryPlan(t, s, tt.q, tt.args...)
			t.Logf("plan: %s", strings.Join(plan, "; "))
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") && !strings.HasPrefix(step, "SCAN CONSTANT") {
					t.Errorf("a step scans a table: %s", step)
				}
			}
			if tt.index != "" && !strings.Contains(plan[0], " INDEX "+tt.index+" ") {
				t.Errorf("the query searches %q, want index %s", plan[0], tt.index)
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
