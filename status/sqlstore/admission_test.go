package sqlstore

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

// internalDialects runs fn against a fresh, unmigrated store of each
// database.
func internalDialects(t *testing.T, fn func(t *testing.T, s *Store)) {
	cfgs := map[string]func(t *testing.T) Config{
		"sqlite":   func(t *testing.T) Config { return Config{DataDir: t.TempDir(), CheckpointInterval: -1} },
		"postgres": func(t *testing.T) Config { return Config{DatabaseURL: storetest.Postgres(t)} },
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(t.Context(), cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			fn(t, s)
		})
	}
}

// TestMigrateAdmissionBackfill: runs stored before migration 2 keep their
// slots: a RUNNING run, and a PENDING one with a container, was started and
// holds one; any other PENDING run is queued. The migration also goes down
// and up again cleanly.
func TestMigrateAdmissionBackfill(t *testing.T) {
	t.Parallel()
	internalDialects(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		p, err := s.provider()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, 1); err != nil {
			t.Fatalf("migrate to 1: %v", err)
		}
		rows := []struct {
			id, status, container string
			admitted              bool
		}{
			{"running", "RUNNING", "c1", true},
			{"running-without-container", "RUNNING", "", true},
			{"starting", "PENDING", "c2", true},
			{"waiting", "PENDING", "", false},
			{"done", "SUCCESS", "c3", false},
		}
		for _, r := range rows {
			if _, err := s.exec(ctx, `INSERT INTO runs (id, pipeline, status, container_id, queued_at)
				VALUES (?, 'p', ?, ?, ?)`, r.id, r.status, r.container, s.d.timeArg(time.Now())); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.exec(ctx, `INSERT INTO pipelines (name, total_runs, successful_runs) VALUES ('p', 3, 2)`); err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			for _, r := range rows {
				got, err := s.GetRun(ctx, r.id)
				if err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				if got.Admitted != r.admitted || !got.NotBefore.IsZero() || got.RequestEnv != nil || got.LogIncomplete {
					t.Errorf("%s: run %s = admitted %v, not before %v, request env %v, log incomplete %v; want admitted %v and the rest zero",
						when, r.id, got.Admitted, got.NotBefore, got.RequestEnv, got.LogIncomplete, r.admitted)
				}
			}
			stats, err := s.GetPipelineStats(ctx, "p")
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if d := cmp.Diff(status.Pipeline{Name: "p", TotalRuns: 3, SuccessfulRuns: 2}, stats); d != "" {
				t.Errorf("%s: counters (-want +got):\n%s", when, d)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		check("after migration")
		// Down drops the columns, so up again derives admitted afresh,
		// from the same rows.
		if _, err := p.DownTo(ctx, 1); err != nil {
			t.Fatalf("migrate down to 1: %v", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		check("after down and up")
	})
}

// TestAdmitRunRecordsFire: the claimed fire names the run it started or
// queued, and no run when the Forbid policy skipped it. No Store method
// reads fires back, so this looks at the table.
func TestAdmitRunRecordsFire(t *testing.T) {
	t.Parallel()
	internalDialects(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
		admit := func(key string, a status.Admission) string {
			t.Helper()
			a.Fire = &status.Fire{Key: key, Pipeline: "p", FireAt: at, RunID: "ignored"}
			r, _, err := s.AdmitRun(ctx, status.Run{Pipeline: "p"}, a)
			if err != nil {
				t.Fatalf("AdmitRun %s: %v", key, err)
			}
			return r.ID
		}
		want := map[string]string{
			"started": admit("started", status.Admission{Limit: 1}),
			"queued":  admit("queued", status.Admission{Limit: 1, Queue: true}),
			"skipped": admit("skipped", status.Admission{Limit: 1, ForbidActive: true}),
		}
		if want["skipped"] != "" {
			t.Errorf("skipped fire returned run %q, want none", want["skipped"])
		}
		got := map[string]string{}
		rows, err := s.query(ctx, `SELECT fire_key, run_id FROM schedule_fires`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var key, run string
			if err := rows.Scan(&key, &run); err != nil {
				t.Fatal(err)
			}
			got[key] = run
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("fires (-want +got):\n%s", d)
		}
	})
}

// TestAdmissionQueryPlan keeps the admission queries on indexes that reach
// only active runs on SQLite, so a long history of ended runs never slows
// a decision down, and off a sort.
func TestAdmissionQueryPlan(t *testing.T) {
	t.Parallel()
	s := newPlanStore(t)
	now := s.d.timeArg(time.Now())
	tests := []struct {
		name  string
		q     string
		args  []any
		index string
	}{
		{"count slot holders", `SELECT COUNT(*) FROM runs WHERE ` + slotHolders, nil, "runs_status_queued"},
		{"queue in claim order", `SELECT id FROM runs WHERE ` + queuedRuns + ` AND ` + eligibleAt +
			` ORDER BY queued_at, id LIMIT ?`, []any{now, 5}, "runs_status_queued"},
		{"eligible queued run ahead", `SELECT 1 FROM runs WHERE ` + queuedRuns + ` AND ` + eligibleAt +
			` AND (queued_at, id) < (?, ?) LIMIT 1`, []any{now, now, "x"}, "runs_status_queued"},
		{"queue state", `SELECT COUNT(*), MIN(CASE WHEN not_before > ? THEN not_before END) FROM runs WHERE ` +
			queuedRuns, []any{now}, "runs_status_queued"},
		{"active run of a pipeline", `SELECT 1 FROM runs WHERE pipeline = ? AND status IN ('PENDING', 'RUNNING') LIMIT 1`,
			[]any{"p"}, "runs_active_pipeline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := strings.Join(queryPlan(t, s, tt.q, tt.args...), "; ")
			t.Logf("plan: %s", all)
			if !strings.Contains(all, "INDEX "+tt.index+" (") || strings.Contains(all, "SCAN runs") {
				t.Errorf("plan does not use %s: %s", tt.index, all)
			}
			if strings.Contains(all, "TEMP B-TREE") {
				t.Errorf("plan sorts the result: %s", all)
			}
		})
	}
}
