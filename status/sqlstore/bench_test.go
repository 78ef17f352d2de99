package sqlstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

const benchRuns = 100_000

// seedBenchRuns inserts n runs over 20 pipelines and all statuses, one a
// second, in multi-row batches (far faster than n CreateRun calls).
func seedBenchRuns(b *testing.B, s *Store, n int) time.Time {
	b.Helper()
	statuses := []status.RunStatus{status.RunSuccess, status.RunSuccess, status.RunSuccess, status.RunFailed,
		status.RunCancelled, status.RunTimeout, status.RunInterrupted}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 500
	for start := 0; start < n; start += batch {
		var vals []string
		var args []any
		for i := start; i < min(start+batch, n); i++ {
			vals = append(vals, "(?, ?, ?, ?, ?)")
			args = append(args, fmt.Sprintf("run-%08d", i), fmt.Sprintf("pipeline-%02d", i%20),
				string(statuses[i%len(statuses)]), s.d.timeArg(base.Add(time.Duration(i)*time.Second)), "rev")
		}
		if _, err := s.exec(b.Context(), `INSERT INTO runs (id, pipeline, status, queued_at, revision) VALUES `+
			strings.Join(vals, ", "), args...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.exec(b.Context(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return base
}

// BenchmarkListRuns measures one page of 50 runs out of 100k, at the start
// and deep in the listing, with the filters the API offers.
func BenchmarkListRuns(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			cfg := Config{DataDir: b.TempDir(), CheckpointInterval: -1}
			if dialect == "postgres" {
				cfg = Config{DatabaseURL: storetest.Postgres(b)}
			}
			s, err := Open(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			if err := s.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			base := seedBenchRuns(b, s, benchRuns)
			b.Logf("seeded %d runs in %v", benchRuns, time.Since(t0).Round(time.Millisecond))
			mid := status.RunCursor{QueuedAt: base.Add(benchRuns / 2 * time.Second), ID: fmt.Sprintf("run-%08d", benchRuns/2)}.Encode()
			cases := []struct {
				name string
				f    status.RunFilter
			}{
				{"first_page", status.RunFilter{}},
				{"deep_page", status.RunFilter{Cursor: mid}},
				{"deep_page_pipeline", status.RunFilter{Pipeline: "pipeline-07", Cursor: mid}},
				{"deep_page_failed_asc", status.RunFilter{Statuses: []status.RunStatus{status.RunFailed}, Order: status.OrderAsc, Cursor: mid}},
				{"day_window", status.RunFilter{Since: base.Add(24 * time.Hour), Until: base.Add(48 * time.Hour)}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						page, err := s.ListRuns(b.Context(), c.f)
						if err != nil {
							b.Fatal(err)
						}
						if len(page.Runs) != defaultRunLimit {
							b.Fatalf("page of %d runs", len(page.Runs))
						}
					}
				})
			}
			b.Run("increment_counters_parallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.IncrementCounters(b.Context(), "bench", status.RunSuccess); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		})
	}
}
