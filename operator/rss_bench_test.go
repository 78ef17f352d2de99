package operator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// rssBenchPipelines are the pipelines of BenchmarkOperatorRSS10000; their
// programs are in rssBenchProgram.
var rssBenchPipelines = map[string]string{
	"hello/main.py": "print('hello')\n",
	"fails/main.py": "raise SystemExit(1)\n",
}

// rssBenchProgram is what the fake containers of BenchmarkOperatorRSS10000
// run: a few lines of log, then success, or a failure for "fails".
func rssBenchProgram(spec runtime.RunSpec) fake.Program {
	p := fake.Program{fake.Print("starting " + spec.RunID), fake.Spam(20), fake.PrintErr("a warning")}
	if spec.Pipeline == "fails" {
		return append(p, fake.Exit(1))
	}
	return append(p, fake.Print("done"), fake.Exit(0))
}

// BenchmarkOperatorRSS10000: an operator in its own process makes
// FASTFLOW_BENCH_RSS_RUNS (default 10,000) runs on the fake runtime, ten
// at a time, nine in ten of hello and one of fails, and reports its RSS
// and its Go heap after a GC once 1,000 runs are done, half of them and
// all. The target is no growth: the in-memory state of finished runs is
// released (TestFinishedRunsReleaseTheirState), so the ratios stay near 1.
// What grows at first is SQLite's page cache (2 MB at most per connection,
// five connections) filling as the database does; the RSS detail lines
// split Go's memory from the rest.
func BenchmarkOperatorRSS10000(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("FASTFLOW_BENCH_RSS_RUNS")); err == nil && v > 1000 {
		n = v
	}
	remote := gittest.New(b)
	remote.Commit("bench", rssBenchPipelines)
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRSSProcess$", "-test.timeout=0")
		cmd.Env = append(os.Environ(), "FASTFLOW_BENCH_RSS_DATA="+b.TempDir(), "FASTFLOW_BENCH_REMOTE="+remote.Dir,
			"FASTFLOW_BENCH_RSS_RUNS="+strconv.Itoa(n))
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("helper: %v\n%s", err, out)
		}
		type sample struct{ rssKB, heapBytes, seconds float64 }
		at := map[int]sample{}
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) != 5 || f[0] != "RSS_AFTER_RUNS" {
				continue
			}
			runs, _ := strconv.Atoi(f[1])
			var s sample
			s.rssKB, _ = strconv.ParseFloat(f[2], 64)
			s.heapBytes, _ = strconv.ParseFloat(f[3], 64)
			s.seconds, _ = strconv.ParseFloat(f[4], 64)
			at[runs] = s
		}
		first, mid, last := at[1000], at[n/2], at[n]
		if first.rssKB == 0 || mid.rssKB == 0 || last.rssKB == 0 {
			b.Fatalf("helper output lacks its samples:\n%s", out)
		}
		rssRatio, heapRatio := last.rssKB/first.rssKB, last.heapBytes/first.heapBytes
		b.ReportMetric(first.rssKB/1024, "rss-1k-MB")
		b.ReportMetric(last.rssKB/1024, "rss-end-MB")
		b.ReportMetric(rssRatio, "rss-ratio")
		b.ReportMetric(last.rssKB/mid.rssKB, "rss-ratio-2nd-half")
		b.ReportMetric(first.heapBytes/(1<<20), "heap-1k-MB")
		b.ReportMetric(last.heapBytes/(1<<20), "heap-end-MB")
		b.ReportMetric(heapRatio, "heap-ratio")
		b.Logf("operator RSS after 1,000 runs %.1f MB, after %d %.1f MB, after %d %.1f MB: ratio %.2f, %.2f over the second half (target: no growth, 1.00); Go heap after GC %.2f, %.2f and %.2f MB: ratio %.2f; %d runs in %.0f s",
			first.rssKB/1024, n/2, mid.rssKB/1024, n, last.rssKB/1024, rssRatio, last.rssKB/mid.rssKB,
			first.heapBytes/(1<<20), mid.heapBytes/(1<<20), last.heapBytes/(1<<20), heapRatio, n, last.seconds)
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(line, "RSS detail") {
				b.Log(strings.TrimSpace(line))
			}
		}
	}
}

// TestHelperRSSProcess is not a test: BenchmarkOperatorRSS10000 runs it as
// a separate process so its resident memory is the operator's alone (and
// the fake daemon's, which forgets removed containers).
func TestHelperRSSProcess(t *testing.T) {
	data, remote := os.Getenv("FASTFLOW_BENCH_RSS_DATA"), os.Getenv("FASTFLOW_BENCH_REMOTE")
	if data == "" {
		t.Skip("helper process only")
	}
	n, err := strconv.Atoi(os.Getenv("FASTFLOW_BENCH_RSS_RUNS"))
	if err != nil {
		t.Fatal(err)
	}
	rt := fake.New(fake.Config{
		RevisionsDir:  filepath.Join(data, "revisions"),
		CacheDirs:     map[string]string{runtime.CacheUV: filepath.Join(data, "uv-cache")},
		Program:       rssBenchProgram,
		ForgetRemoved: true,
	})
	env := openRunEnv(t, gittest.Open(t, remote), data, rt, func(c *Config) {
		c.WorkerImage = "fake-worker"
		c.WorkerMounts = nil
	})
	start := time.Now()
	done := 0
	for _, upTo := range []int{1000, n / 2, n} {
		rssRuns(t, env, upTo-done, done)
		done = upTo
		goruntime.GC()
		debug.FreeOSMemory()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		if a, l, m := env.op.ActiveRuns(), env.op.LogHubs().Len(), env.op.MetricHubs().Len(); a+l+m != 0 {
			t.Fatalf("after %d runs: %d runners, %d log hubs, %d metric hubs still held", done, a, l, m)
		}
		db, _ := os.Stat(filepath.Join(data, sqlstore.FileName))
		fmt.Println("RSS_AFTER_RUNS", done, rssKB(), ms.HeapAlloc, int(time.Since(start).Seconds()))
		// Where the RSS is: Go's own memory (heap, stacks, runtime) and
		// the rest, mostly SQLite's page caches, bounded per connection
		// but filling as the database grows.
		fmt.Printf("RSS detail after %d runs: anon %d kB, file %d kB; Go runtime holds %d kB; database %d kB\n",
			done, procStatusKB("RssAnon:"), procStatusKB("RssFile:"), (ms.Sys-ms.HeapReleased)/1024, fileSize(db)/1024)
	}
}

// rssRuns makes n runs, ten at a time, and waits until each is final and
// released; run i of them (counting from offset) is of fails when i%10 is 9.
func rssRuns(t *testing.T, env *runEnv, n, offset int) {
	t.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				pipeline := "hello"
				if (offset+i)%10 == 9 {
					pipeline = "fails"
				}
				r, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: pipeline})
				for errors.Is(err, ErrTooManyRuns) {
					// A slot counts as free only once the run's row
					// is final; the release follows a moment later.
					time.Sleep(time.Millisecond)
					r, err = env.op.RunPipeline(ctx, RunRequest{Pipeline: pipeline})
				}
				if err != nil {
					errs <- fmt.Errorf("run %d: %w", offset+i, err)
					return
				}
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
					got, err := env.store.GetRun(ctx, r.ID)
					if err == nil && got.Status.Final() && !env.isActive(r.ID) {
						break
					}
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("run %s (%d) not final after a minute: %+v, %v", r.ID, offset+i, got, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// procStatusKB is a kB field of /proc/self/status, -1 when absent.
func procStatusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return -1
}

func fileSize(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}
