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
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

// BenchmarkRetentionSweep: one sweep over FASTFLOW_BENCH_RETENTION_RUNS
// (default 100,000) expired runs of 100 pipelines in SQLite, each with a
// real log and metrics file where the operator puts them, removing files and rows (RUN_HISTORY_DAYS)
// with the schedule fire of every other run and a webhook delivery per ten
// runs, while a reader asks the store what the API's run page and run list
// ask (GetRun, a page of ListRuns) as fast as it can. It prints the
// sweep's time and the p99 of those reads; the targets are 60 s and 50 ms.
func BenchmarkRetentionSweep(b *testing.B) {
	benchRetentionSweep(b, func(ctx context.Context) (*sqlstore.Store, error) {
		return sqlstore.Open(ctx, sqlstore.Config{DataDir: b.TempDir(), CheckpointInterval: -1})
	})
}

// BenchmarkRetentionSweepPostgres is BenchmarkRetentionSweep on a fresh
// PostgreSQL database (storetest.Postgres: FASTFLOW_TEST_POSTGRES_URL).
func BenchmarkRetentionSweepPostgres(b *testing.B) {
	benchRetentionSweep(b, func(ctx context.Context) (*sqlstore.Store, error) {
		return sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: storetest.Postgres(b)})
	})
}

// benchRetentionRuns is FASTFLOW_BENCH_RETENTION_RUNS, 100,000 by default.
func benchRetentionRuns() int {
	if v, err := strconv.Atoi(os.Getenv("FASTFLOW_BENCH_RETENTION_RUNS")); err == nil && v >= 2*benchPipelineCount {
		return v
	}
	return 100_000
}

// BenchmarkRetentionSweepSteady: the sweep that follows every finished run
// once LOG_RETENTION_RUNS=50 has long been in force, over
// FASTFLOW_BENCH_RETENTION_RUNS (default 100,000) runs of 100 pipelines in
// SQLite whose files are gone but for each pipeline's newest 60. The first
// sweep removes ten runs' files a pipeline; the second finds nothing, which
// is what most sweeps find. Both walk only the runs that still have files
// (the runs_with_files index), not every older run of each pipeline. No
// target is set; the figures say what a finished run costs.
func BenchmarkRetentionSweepSteady(b *testing.B) {
	n := benchRetentionRuns()
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
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		fillRetentionBench(b, store, n, start)
		// Runs are queued in index order, so all but the last
		// 60 a pipeline are the first n-6,000.
		var old []string
		for i := range n - 60*benchPipelineCount {
			old = append(old, fmt.Sprintf("run-%07d", i))
			if len(old) == 500 || i == n-60*benchPipelineCount-1 {
				if _, err := store.MarkLogsRemoved(ctx, old, start, reasonKeepRuns); err != nil {
					b.Fatal(err)
				}
				old = old[:0]
			}
		}
		rt := newRetention(RetentionConfig{Runs: 50}, store, fake.NewClock(start.AddDate(1, 0, 0)),
			slog.New(slog.NewTextHandler(io.Discard, nil)), func(string) *schemas.Retention { return nil }, nil)
		var took [2]time.Duration
		var logs [2]int64
		b.StartTimer()
		for i := range took {
			t0 := time.Now()
			res, err := rt.sweep(ctx)
			took[i] = time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			logs[i] = res.Logs
		}
		b.StopTimer()
		// Due: each pipeline's 51st to 60th newest runs, but a run that
		// one of the 50 kept retries (the chain is not cut).
		want := int64(10 * benchPipelineCount)
		for i := n - 50*benchPipelineCount; i < n; i++ {
			if benchIsRetry(i) && i-benchPipelineCount < n-50*benchPipelineCount {
				want--
			}
		}
		if logs != [2]int64{want, 0} {
			b.Fatalf("sweeps removed the files of %v runs, want %d, then none", logs, want)
		}
		b.ReportMetric(float64(took[0].Microseconds())/1000, "sweep-ms")
		b.ReportMetric(float64(took[1].Microseconds())/1000, "idle-sweep-ms")
		b.Logf("LOG_RETENTION_RUNS=50 over %d runs: a sweep removing %d runs' files %s, one finding nothing %s",
			n, logs[0], took[0].Round(time.Millisecond), took[1].Round(time.Millisecond))
		_ = store.Close()
		b.StartTimer()
	}
}

func benchRetentionSweep(b *testing.B, open func(context.Context) (*sqlstore.Store, error)) {
	n := benchRetentionRuns()
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		store, err := open(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		setup := time.Now()
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		fillRetentionBench(b, store, n, start)
		b.Logf("set-up of %d runs: %s", n, time.Since(setup).Round(time.Second))
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
				t1 := time.Now()
				_, _ = store.ListRuns(readCtx, status.RunFilter{Limit: 50})
				lat = append(lat, t1.Sub(t0), time.Since(t1))
			}
		})
		cpu0 := processCPU()
		b.StartTimer()
		t0 := time.Now()
		res, err := rt.sweep(ctx)
		took := time.Since(t0)
		b.StopTimer()
		cpu := processCPU() - cpu0
		stopReads()
		readers.Wait()
		if err != nil {
			b.Fatal(err)
		}
		// Kept: the newest run of each pipeline, and the run a kept
		// retry retries.
		want := benchPipelineCount
		for i := n - benchPipelineCount; i < n; i++ {
			if benchIsRetry(i) {
				want++
			}
		}
		if left := countRunsLeft(b, store); left != want {
			b.Fatalf("%d runs left after the sweep, want %d", left, want)
		}
		slices.Sort(lat)
		var p99 time.Duration
		if len(lat) > 0 {
			p99 = lat[len(lat)*99/100]
		}
		b.ReportMetric(took.Seconds(), "sweep-s")
		b.ReportMetric(took.Seconds()/60, "sweep/target")
		b.ReportMetric(float64(p99.Microseconds())/1000, "read-p99-ms")
		b.ReportMetric(p99.Seconds()/0.050, "p99/target")
		b.Logf("retention sweep over %d runs: %s (%.2f of the 60 s target; this process used %s of CPU meanwhile, the reader included), %d rows and %d records deleted; %d store reads during it, p99 %s (%.2f of the 50 ms target)",
			n, took.Round(time.Millisecond), took.Seconds()/60, cpu.Round(time.Millisecond), res.Rows, res.Records,
			len(lat), p99.Round(time.Microsecond), p99.Seconds()/0.050)
		_ = store.Close()
		b.StartTimer()
	}
}

// fillRetentionBench writes n finished runs of 100 pipelines queued a
// second apart from start, each with a log and a metrics file; every other
// run came from a schedule fire, every tenth has a webhook delivery and
// one in a hundred is a retry of its pipeline's run before it.
func fillRetentionBench(b *testing.B, store *sqlstore.Store, n int, start time.Time) {
	ctx := context.Background()
	logsDir := b.TempDir()
	// Retries go in a second pass: the run they retry must exist.
	for _, retries := range []bool{false, true} {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					if benchIsRetry(i) != retries {
						continue
					}
					if err := fillRetentionRun(ctx, store, logsDir, i, start); err != nil {
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
	}
	for p := range benchPipelineCount {
		if err := store.IncrementCounters(ctx, fmt.Sprintf("p%03d", p), status.RunSuccess); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPipelineCount is the number of pipelines BenchmarkRetentionSweep's
// runs belong to.
const benchPipelineCount = 100

// benchIsRetry tells the retries among BenchmarkRetentionSweep's runs.
// Run i retries run i-benchPipelineCount, which never is a retry itself,
// so chains have two runs and a kept newest run keeps one run besides.
func benchIsRetry(i int) bool {
	return i >= benchPipelineCount && (i/benchPipelineCount)%2 == 0 && i%50 == 49
}

func fillRetentionRun(ctx context.Context, store *sqlstore.Store, logsDir string, i int, start time.Time) error {
	p := fmt.Sprintf("p%03d", i%benchPipelineCount)
	id := fmt.Sprintf("run-%07d", i)
	// The operator's layout: LOGS_DIR/<pipeline>/<run>.log and
	// <run>_metrics.jsonl beside it.
	lp, err := logs.Path(logsDir, p, id)
	if err != nil {
		return err
	}
	mp, err := metrics.Path(logsDir, p, id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(lp), 0o750); err != nil {
		return err
	}
	for _, f := range []string{lp, mp} {
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			return err
		}
	}
	queued := start.Add(time.Duration(i) * time.Second)
	r := status.Run{ID: id, Pipeline: p, Status: status.RunSuccess, Trigger: status.TriggerManual,
		QueuedAt: queued, LogPath: lp, MetricsPath: mp}
	if i%2 == 0 {
		r.Trigger = status.TriggerSchedule
	}
	if benchIsRetry(i) {
		r.Trigger, r.Attempt, r.RetryOf = status.TriggerRetry, 2, fmt.Sprintf("run-%07d", i-benchPipelineCount)
	}
	if _, err := store.CreateRun(ctx, r); err != nil {
		return err
	}
	if r.Trigger == status.TriggerSchedule {
		if err := store.RecordFire(ctx, status.Fire{Key: p + "|" + id, Pipeline: p, FireAt: queued, RunID: id}); err != nil {
			return err
		}
	}
	if i%10 == 0 {
		if err := store.RecordDelivery(ctx, status.Delivery{ID: "delivery-" + id, Event: "push", ReceivedAt: queued}); err != nil {
			return err
		}
	}
	return nil
}

func countRunsLeft(b *testing.B, store *sqlstore.Store) int {
	b.Helper()
	f := status.RunFilter{Limit: 1000}
	left := 0
	for {
		page, err := store.ListRuns(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		left += len(page.Runs)
		if page.NextCursor == "" {
			return left
		}
		f.Cursor = page.NextCursor
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
