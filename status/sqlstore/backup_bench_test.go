package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// backupBenchVersion keys the cached benchmark database: change it when
// the rows seedBackupBench writes change.
const backupBenchVersion = 1

// backupBenchCacheDir keeps the benchmark database between runs, since
// building a gigabyte of runs takes a while; a user who cannot write there
// gets their own cache directory.
const backupBenchCacheDir = "/var/cache/fastflow/bench"

// backupBenchMBEnv overrides the size of the benchmark database in MB
// (default 1024), for a quick look at the harness.
const backupBenchMBEnv = "FASTFLOW_BENCH_BACKUP_MB"

// BenchmarkBackup1GB backs up a ~1 GB SQLite database of realistic runs
// while API-like reads (run list, pipeline list, run detail) and a writer
// finishing runs go on, and reports how long the backup took and the
// reads' latency during it against the same reads without a backup, in
// the same process on the same data:
//
//	backup-s, backup-MB/s       the backup (VACUUM INTO, integrity check, sync)
//	idle-p50-ms, idle-p99-ms    the reads without a backup
//	p50-ms, p99-ms              the reads during the backup
//	p99-ratio                   p99-ms / idle-p99-ms
//	reads/s                     the read rate during the backup
//
// The target is a backup under 30 s with p99 under 100 ms; the figures are
// reported, not asserted. The database is built once (about a minute) and
// cached under backupBenchCacheDir, keyed by backupBenchVersion and the
// schema version; each run copies it first, so the cache stays unwritten.
func BenchmarkBackup1GB(b *testing.B) {
	sizeMB := 1024
	if v := os.Getenv(backupBenchMBEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number of MB", backupBenchMBEnv, v)
		}
		sizeMB = n
	}
	cached := backupBenchDatabase(b, sizeMB)

	work := b.TempDir()
	needFree(b, work, 3*fileSize(b, cached))
	dataDir := filepath.Join(work, "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := copyFile(cached, filepath.Join(dataDir, FileName)); err != nil {
		b.Fatal(err)
	}
	b.Logf("copied the cached database in %v", time.Since(t0).Round(time.Millisecond))
	s, err := Open(b.Context(), Config{DataDir: dataDir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	runs, err := countRuns(b.Context(), s)
	if err != nil {
		b.Fatal(err)
	}

	load := startBenchLoad(s, runs)
	defer load.stop()
	// Warm the page cache and the pools as a server that has been up a
	// while would be, then measure the reads without a backup.
	time.Sleep(2 * time.Second)
	load.reset()
	time.Sleep(5 * time.Second)
	idle := load.reset()
	b.ResetTimer()

	var (
		backupTime time.Duration
		bytes      int64
		n          int
	)
	dst := filepath.Join(work, "backups")
	if err := os.MkdirAll(dst, 0o750); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		file := filepath.Join(dst, fmt.Sprintf("backup-%d.db", n))
		res, err := Backup(b.Context(), dataDir, file)
		if err != nil {
			b.Fatal(err)
		}
		backupTime += res.Duration
		bytes += res.Bytes
		n++
		if err := os.Remove(file); err != nil {
			b.Fatal(err)
		}
	}
	wrote := load.written()
	during := load.reset()
	if err := load.stop(); err != nil {
		b.Fatalf("the load beside the backup failed: %v", err)
	}
	if len(during) == 0 || len(idle) == 0 {
		b.Fatalf("no reads measured (%d idle, %d during the backup)", len(idle), len(during))
	}

	secs := backupTime.Seconds() / float64(n)
	mb := float64(bytes) / float64(n) / 1e6
	idle50, idle99 := percentile(idle, 50), percentile(idle, 99)
	p50, p99 := percentile(during, 50), percentile(during, 99)
	b.ReportMetric(mb, "db-MB")
	b.ReportMetric(secs, "backup-s")
	b.ReportMetric(mb/secs, "backup-MB/s")
	b.ReportMetric(ms(idle50), "idle-p50-ms")
	b.ReportMetric(ms(idle99), "idle-p99-ms")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(p99)/ms(idle99), "p99-ratio")
	b.ReportMetric(float64(len(during))/backupTime.Seconds(), "reads/s")
	b.Logf("%d runs, %.0f MB: backup in %.1f s (%.0f MB/s); reads p50/p99 %.2f/%.2f ms during it (%d reads), %.2f/%.2f ms without (%d reads); %d runs written during it",
		runs, mb, secs, mb/secs, ms(p50), ms(p99), len(during), ms(idle50), ms(idle99), len(idle), wrote)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile of sorted-or-not latencies, nearest rank.
func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func fileSize(b *testing.B, path string) int64 {
	b.Helper()
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}

// needFree skips the benchmark when dir's file system has less than n
// bytes free.
func needFree(b *testing.B, dir string, n int64) {
	b.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		b.Fatal(err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < n {
		b.Skipf("%s has %d MB free, the benchmark needs %d MB", dir, free>>20, n>>20)
	}
}

func countRuns(ctx context.Context, s *Store) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT count(*) FROM runs").Scan(&n)
	return n, err
}

// backupBenchDatabase returns the cached database of about sizeMB,
// building it first when it is missing.
func backupBenchDatabase(b *testing.B, sizeMB int) string {
	b.Helper()
	dir := backupBenchCacheDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		user, uerr := os.UserCacheDir()
		if uerr != nil {
			b.Fatalf("no cache directory: %v; %v", err, uerr)
		}
		dir = filepath.Join(user, "fastflow", "bench")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	prefix := fmt.Sprintf("backup-v%d-schema%d-", backupBenchVersion, LatestSchemaVersion())
	sweepBenchCache(b, dir, prefix)
	path := filepath.Join(dir, fmt.Sprintf("%s%dMB.db", prefix, sizeMB))
	if _, err := os.Stat(path); err == nil {
		b.Logf("cached benchmark database %s", path)
		return path
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.Fatal(err)
	}
	needFree(b, dir, 2*int64(sizeMB)<<20)

	build := filepath.Join(dir, "building-"+strconv.Itoa(os.Getpid()))
	if err := os.RemoveAll(build); err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(build)
	t0 := time.Now()
	s, err := Open(b.Context(), Config{DataDir: build, CheckpointInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(errors.Join(err, s.Close()))
	}
	n, err := seedBackupBench(b.Context(), s, int64(sizeMB)<<20)
	if err == nil {
		err = s.Checkpoint(b.Context())
	}
	if err != nil {
		b.Fatal(errors.Join(err, s.Close()))
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	// Close checkpointed the WAL into the file; the database is this one
	// file, moved into place whole.
	if err := os.Rename(filepath.Join(build, FileName), path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built the benchmark database (%d runs, %d MB) in %v: %s", n, fileSize(b, path)>>20, time.Since(t0).Round(time.Second), path)
	return path
}

// backupBenchUnique is how much of the benchmark database is made of runs
// written one by one through the store; the rest repeats them under new
// IDs and later times inside SQLite, several times faster than making
// each in Go.
const backupBenchUnique = 96 << 20

// repeatBenchRuns copies the first n runs (run-000000000 on) under the
// next IDs and times, in chunks, until the database holds size bytes, and
// returns the number of runs.
func repeatBenchRuns(ctx context.Context, s *Store, n int, size int64) (int, error) {
	total := n
	for {
		var pages, pageSize int64
		if err := s.w.QueryRowContext(ctx, "SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()").Scan(&pages, &pageSize); err != nil {
			return total, fmt.Errorf("database size: %w", err)
		}
		if pages*pageSize >= size {
			return total, nil
		}
		// Copy a chunk of the unique runs to the next IDs, moving their
		// times on by as much, in the fixed-width text form (seconds
		// from strftime, the fraction kept from the original).
		from := total % n
		count := min(10_000, n-from)
		delta := total - from
		span := fmt.Sprintf("'+%d seconds'", delta*7)
		shift := func(col string) string {
			return "CASE WHEN " + col + " IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', " + col + ", " + span + ") || substr(" + col + ", 20) END"
		}
		_, err := s.exec(ctx, `INSERT INTO runs (id, pipeline, status, error_type, exit_code, message, revision,
				trigger_type, triggered_by, attempt, retry_of, container_id, parameters, env_names,
				queued_at, started_at, finished_at, uv_version, setup_duration_us, peak_cpu_percent,
				peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path, admitted, not_before,
				request_env, log_incomplete)
			SELECT printf('run-%09d', CAST(substr(id, 5) AS INTEGER) + `+strconv.Itoa(delta)+`), pipeline, status, error_type,
				exit_code, message, revision, trigger_type, triggered_by, attempt, retry_of, container_id, parameters,
				env_names, `+shift("queued_at")+`, `+shift("started_at")+`, `+shift("finished_at")+`, uv_version,
				setup_duration_us, peak_cpu_percent, peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path,
				admitted, not_before, request_env, log_incomplete
			FROM runs WHERE id >= ? AND id < ?`, fmt.Sprintf("run-%09d", from), fmt.Sprintf("run-%09d", from+count))
		if err != nil {
			return total, fmt.Errorf("repeat runs from %d: %w", total, err)
		}
		total += count
	}
}

// sweepBenchCache removes what earlier runs left in dir that this one will
// not use: databases of another version or schema (a gigabyte each), and
// the build directories of runs that were killed.
func sweepBenchCache(b *testing.B, dir, keep string) {
	b.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		stale := strings.HasPrefix(name, "backup-v") && strings.HasSuffix(name, ".db") && !strings.HasPrefix(name, keep)
		if pid, ok := strings.CutPrefix(name, "building-"); ok {
			n, err := strconv.Atoi(pid)
			// Signal 0 asks whether the process still runs.
			stale = err != nil || errors.Is(syscall.Kill(n, 0), syscall.ESRCH)
		}
		if stale {
			b.Logf("removing %s from the benchmark cache", name)
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchPipelines are the pipelines the seeded runs belong to.
var benchPipelines = func() []string {
	var p []string
	for i := range 40 {
		p = append(p, fmt.Sprintf("pipeline-%02d", i))
	}
	return p
}()

// seedBackupBench fills s with runs until the database holds size bytes,
// in large transactions through the store's own insert: every run
// has its request env, parameters and env names, and the failed ones a
// traceback of a kilobyte or two, as a year of nightly jobs would leave.
func seedBackupBench(ctx context.Context, s *Store, size int64) (int, error) {
	total := 0
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []status.RunStatus{status.RunSuccess, status.RunSuccess, status.RunSuccess, status.RunSuccess,
		status.RunFailed, status.RunFailed, status.RunTimeout, status.RunCancelled, status.RunInterrupted}
	frames := []string{"pipeline/main.py", "pipeline/extract.py", "site-packages/requests/adapters.py",
		"site-packages/pandas/io/sql.py", "site-packages/sqlalchemy/engine/base.py"}
	const batch = 5000
	for start := 0; ; start += batch {
		var pages, pageSize int64
		if err := s.w.QueryRowContext(ctx, "SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()").Scan(&pages, &pageSize); err != nil {
			return start, fmt.Errorf("database size: %w", err)
		}
		if pages*pageSize >= min(size, backupBenchUnique) {
			total = start
			break
		}
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for i := start; i < start+batch; i++ {
				st := statuses[rng.IntN(len(statuses))]
				queued := base.Add(time.Duration(i) * 7 * time.Second)
				code := 0
				r := status.Run{
					ID: fmt.Sprintf("run-%09d", i), Pipeline: benchPipelines[rng.IntN(len(benchPipelines))], Status: st,
					Revision: fmt.Sprintf("main@sha1:%040x", rng.Uint64()), Trigger: status.TriggerSchedule,
					TriggeredBy: "scheduler", ContainerID: fmt.Sprintf("%064x", rng.Uint64()),
					Parameters: map[string]string{"DATE": queued.Format(time.DateOnly), "MODE": "full"},
					EnvNames:   []string{"LOG_LEVEL", "API_TOKEN", "DB_URL", "DATE", "MODE"},
					RequestEnv: map[string]string{},
					QueuedAt:   queued, StartedAt: queued.Add(time.Second), FinishedAt: queued.Add(time.Duration(5+rng.IntN(600)) * time.Second),
					UVVersion: "uv 0.9.2", SetupDuration: time.Duration(rng.IntN(5000)) * time.Millisecond,
					PeakCPUPercent: rng.Float64() * 200, PeakRAMBytes: rng.Int64N(2 << 30),
					LogPath:     fmt.Sprintf("/var/lib/fastflow/logs/run-%09d.log", i),
					MetricsPath: fmt.Sprintf("/var/lib/fastflow/logs/run-%09d.metrics.jsonl", i),
				}
				for k := range 12 {
					r.RequestEnv[fmt.Sprintf("SETTING_%02d", k)] = fmt.Sprintf("value-%x-%s", rng.Uint64(), strings.Repeat("v", rng.IntN(40)))
				}
				var msg strings.Builder
				msg.WriteString("Traceback (most recent call last):\n")
				for k := range 8 + rng.IntN(12) {
					fmt.Fprintf(&msg, "  File \"/app/%s\", line %d, in step_%d\n    result = do_the_work(batch=%d, retries=%d)\n",
						frames[rng.IntN(len(frames))], rng.IntN(900), k, rng.IntN(1e6), rng.IntN(5))
				}
				switch st {
				case status.RunFailed:
					code = 1
					r.ErrorType = status.ErrorExitCode
					fmt.Fprintf(&msg, "ConnectionError: HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded (run %d)", i)
					r.Message = msg.String()
				case status.RunTimeout:
					code = 143
					r.Message = "timed out after 600 s"
				case status.RunSuccess:
					r.Message = ""
				default:
					r.Message = "stopped: " + msg.String()[:200]
				}
				r.ExitCode = &code
				r, err := s.newRun(r)
				if err != nil {
					return err
				}
				if err := s.insertRun(ctx, tx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return start, fmt.Errorf("seed runs from %d: %w", start, err)
		}
	}
	total, err := repeatBenchRuns(ctx, s, total, size)
	if err != nil {
		return total, err
	}
	for _, p := range benchPipelines {
		if err := s.UpsertPipeline(ctx, status.Pipeline{Name: p, HasRequirements: true, RequirementsHash: "sha256:x", CacheStatus: "ok"}); err != nil {
			return total, err
		}
	}
	if _, err := s.exec(ctx, "ANALYZE"); err != nil {
		return total, err
	}
	return total, nil
}

// benchReadPause is how long each of the four readers of benchLoad waits
// between two requests: together a few hundred requests a second, far
// more than a team's browsers and API clients send, without leaving the
// backup no CPU on a small machine.
const benchReadPause = 10 * time.Millisecond

// benchLoad is the API beside the backup: readers asking what the run
// list, the pipeline list and a run's page ask, each with a pause as
// browsers and API clients leave between requests, and one writer
// creating and finishing a run every 20 ms, as a busy operator would.
type benchLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	latencies []time.Duration
	errs      []error
	wrote     int
	stopOnce  sync.Once
}

func startBenchLoad(s *Store, runs int) *benchLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &benchLoad{cancel: cancel}
	const readers = 4
	for id := range readers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.read(ctx, s, runs, uint64(id))
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.write(ctx, s)
	}()
	return l
}

func (l *benchLoad) read(ctx context.Context, s *Store, runs int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	pause := time.NewTimer(0)
	defer pause.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
		t0 := time.Now()
		var err error
		switch n % 4 {
		case 0: // the runs page
			_, err = s.ListRuns(ctx, status.RunFilter{})
		case 1: // one pipeline's runs
			_, err = s.ListRuns(ctx, status.RunFilter{Pipeline: benchPipelines[rng.IntN(len(benchPipelines))]})
		case 2: // a run's page
			_, err = s.GetRun(ctx, fmt.Sprintf("run-%09d", rng.IntN(runs)))
		case 3: // the dashboard's failures and the pipeline list
			if _, err = s.ListRuns(ctx, status.RunFilter{Statuses: []status.RunStatus{status.RunFailed}, Limit: 10}); err == nil {
				_, err = s.ListPipelines(ctx)
			}
		}
		d := time.Since(t0)
		l.mu.Lock()
		if err != nil && ctx.Err() == nil {
			l.errs = append(l.errs, err)
		} else if err == nil {
			l.latencies = append(l.latencies, d)
		}
		l.mu.Unlock()
		pause.Reset(benchReadPause)
	}
}

func (l *benchLoad) write(ctx context.Context, s *Store) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r, err := s.CreateRun(ctx, status.Run{Pipeline: benchPipelines[0], Status: status.RunRunning, StartedAt: time.Now()})
		if err == nil {
			code := 0
			r.Status, r.ExitCode, r.FinishedAt = status.RunSuccess, &code, time.Now()
			_, err = s.FinishRun(ctx, r, status.RunRunning)
		}
		l.mu.Lock()
		if err != nil && ctx.Err() == nil {
			l.errs = append(l.errs, err)
		} else if err == nil {
			l.wrote++
		}
		l.mu.Unlock()
	}
}

// reset returns the latencies measured since the last reset.
func (l *benchLoad) reset() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.latencies
	l.latencies = nil
	l.wrote = 0
	return out
}

func (l *benchLoad) written() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wrote
}

// stop ends the load, waits for it, and returns what failed.
func (l *benchLoad) stop() error {
	l.stopOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}
