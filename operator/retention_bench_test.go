package operator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// BenchmarkRetentionSweep: one sweep over FASTFLOW_BENCH_RETENTION_RUNS
// (default 100,000) expired runs of 100 pipelines, each with a real log
// and metrics file, removing files and rows (RUN_HISTORY_DAYS), while a
// reader asks the store what the API's run page and list ask (GetRun and a
// page of ListRuns) as fast as it can. It prints the sweep's time and the
// reads' p99; the targets are 60 s and 50 ms.
func BenchmarkRetentionSweep(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("FASTFLOW_BENCH_RETENTION_RUNS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: b.TempDir(), CheckpointInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		logsDir := b.TempDir()
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		const pipelines = 100
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					p := fmt.Sprintf("p%03d", i%pipelines)
					id := fmt.Sprintf("run-%07d", i)
					lp := filepath.Join(logsDir, id+".log")
					mp := filepath.Join(logsDir, id+"_metrics.jsonl")
					for _, f := range []string{lp, mp} {
						if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
							errs <- err
							return
						}
					}
					if _, err := store.CreateRun(ctx, status.Run{ID: id, Pipeline: p, Status: status.RunSuccess,
						QueuedAt: start.Add(time.Duration(i) * time.Second), LogPath: lp, MetricsPath: mp}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		for p := range pipelines {
			if err := store.IncrementCounters(ctx, fmt.Sprintf("p%03d", p), status.RunSuccess); err != nil {
				b.Fatal(err)
			}
		}
		clk := fake.NewClock(start.AddDate(1, 0, 0))
		rt := newRetention(RetentionConfig{Days: 30, HistoryDays: 60}, store, clk,
			slog.New(slog.NewTextHandler(io.Discard, nil)), func(string) *schemas.Retention { return nil }, nil)

		readCtx, stopReads := context.WithCancel(ctx)
		var lat []time.Duration
		var readers sync.WaitGroup
		readers.Go(func() {
			for i := 0; readCtx.Err() == nil; i++ {
				t0 := time.Now()
				_, _ = store.GetRun(readCtx, fmt.Sprintf("run-%07d", (i*7919)%n))
				_, _ = store.ListRuns(readCtx, status.RunFilter{Limit: 50})
				lat = append(lat, time.Since(t0))
			}
		})
		b.StartTimer()
		t0 := time.Now()
		res, err := rt.sweep(ctx)
		took := time.Since(t0)
		b.StopTimer()
		stopReads()
		readers.Wait()
		if err != nil {
			b.Fatal(err)
		}
		slices.Sort(lat)
		var p99 time.Duration
		if len(lat) > 0 {
			p99 = lat[len(lat)*99/100]
		}
		b.Logf("retention sweep over %d runs: %s (target 60 s), %d rows deleted, %d logs removed; store reads during it: %d, p99 %s (target 50 ms)",
			n, took.Round(time.Millisecond), res.Rows, res.Logs, len(lat), p99.Round(time.Microsecond))
		fmt.Printf("retention sweep: %d runs in %s; read p99 %s over %d reads\n", n, took.Round(time.Millisecond), p99.Round(time.Microsecond), len(lat))
		_ = store.Close()
		b.StartTimer()
	}
}
