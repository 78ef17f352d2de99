package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// BenchmarkScrape: one GET /metrics against a SQLite store with 100,000
// runs over 1,000 live pipelines (10 running, 50 queued, the rest
// finished), after the counters and histograms have seen every one of
// them finish. Target: under 20 ms a scrape.
func BenchmarkScrape(b *testing.B) {
	const (
		pipelines = 1000
		runs      = 100_000
		running   = 10
		queued    = 50
	)
	ctx := context.Background()
	raw := newStore(b)
	live := make(map[string]bool, pipelines)
	for i := range pipelines {
		live[fmt.Sprintf("pipeline-%04d", i)] = true
	}
	tel, err := New(Config{
		Version: "bench", Commit: "bench",
		IsLive:        func(n string) bool { return live[n] },
		Queue:         raw,
		DockerPing:    func(context.Context) error { return nil },
		ChecksPending: func() int { return 3 },
	})
	if err != nil {
		b.Fatal(err)
	}

	t0 := time.Now()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []status.RunStatus{status.RunSuccess, status.RunSuccess, status.RunSuccess, status.RunFailed, status.RunTimeout}
	next := make(chan int, 8)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
	)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				r := status.Run{Pipeline: fmt.Sprintf("pipeline-%04d", i%pipelines), Trigger: status.TriggerSchedule,
					QueuedAt: base.Add(time.Duration(i) * time.Second)}
				switch {
				case i < running:
					r.Status, r.StartedAt = status.RunRunning, r.QueuedAt
				case i < running+queued:
					r.Status = status.RunPending
				default:
					r.Status = statuses[i%len(statuses)]
					r.StartedAt, r.FinishedAt = r.QueuedAt, r.QueuedAt.Add(time.Duration(i%600)*time.Second)
					r.SetupDuration = time.Duration(i%5) * time.Second
					if r.Status == status.RunFailed {
						r.ErrorType = status.ErrorExitCode
					}
				}
				_, err := raw.CreateRun(ctx, r)
				if err == nil && r.Status != status.RunPending {
					tel.RunStarted(r)
					if r.Status != status.RunRunning {
						tel.RunFinished(r)
					}
				}
				if err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range runs {
		next <- i
	}
	close(next)
	wg.Wait()
	if fail != nil {
		b.Fatal(fail)
	}
	b.Logf("seeded %d runs over %d pipelines in %s", runs, pipelines, time.Since(t0).Round(time.Millisecond))

	h := tel.Handler()
	scrape := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
		}
		return rec
	}
	first := scrape()
	lines := 0
	for _, l := range strings.Split(first.Body.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines++
		}
	}

	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		scrape()
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/scrape")
	b.ReportMetric(float64(first.Body.Len())/1024, "KiB/scrape")
	b.ReportMetric(float64(lines), "samples/scrape")
	qt := time.Now()
	for range 10 {
		_, _ = countRuns(ctx, raw, status.RunPending)
		_, _ = countRuns(ctx, raw, status.RunRunning)
	}
	b.Logf("store part: %s a scrape", time.Since(qt)/10)
	// The target, printed as a ratio rather than asserted: a
	// timing is a figure, not a pass/fail test.
	b.ReportMetric(float64(per)/float64(20*time.Millisecond), "scrape/target")
}
