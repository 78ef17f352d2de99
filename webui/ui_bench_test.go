package webui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// The page figures of issue 6: server time per page with 100,000 runs of
// 200 pipelines in SQLite, through the whole handler chain (bearer auth,
// store queries, charts, templates), p95 under 50 ms each. Run with
//
//	go test -run '^$' -bench BenchmarkUIPages -benchtime 1x ./webui/
const (
	uiBenchPipelines = 200
	uiBenchRuns      = 100_000
	uiBenchSamples   = 100
	// uiBenchEvery spaces the seeded runs: 100,000 of them cover about
	// ten days, so the last 24 hours hold some 9,600 for the timeline.
	uiBenchEvery = 9 * time.Second
)

func BenchmarkUIPages(b *testing.B) {
	files := map[string]string{}
	for i := range uiBenchPipelines {
		name := fmt.Sprintf("p%03d", i)
		files[name+"/main.py"] = "print('x')\n"
		// Every other pipeline has a schedule, tags and limits, so the
		// dashboard computes next fires and the short limits for them.
		if i%2 == 0 {
			files[name+"/pipeline.json"] = fmt.Sprintf(`{"description": "pipeline %d", "schedule": "*/%d * * * *", "tags": ["t%d", "nightly"],
				"cpu_hard_limit": 1, "mem_hard_limit": "512m", "timeout": 600}`, i, 5+i%10, i%7)
		}
	}
	e := newAPIEnv(b, apiEnvOptions{files: files})
	ctx := context.Background()
	now := time.Now().UTC()
	statuses := []status.RunStatus{status.RunSuccess, status.RunSuccess, status.RunSuccess, status.RunSuccess, status.RunSuccess,
		status.RunSuccess, status.RunSuccess, status.RunSuccess, status.RunFailed, status.RunTimeout}
	t0 := time.Now()
	var mid, last status.Run
	for i := range uiBenchRuns {
		q := now.Add(-time.Duration(uiBenchRuns-i) * uiBenchEvery)
		st := statuses[i%len(statuses)]
		// A quarter of the pipelines ran only before the last day: the
		// dashboard looks up their last run one by one.
		pipeline := i % uiBenchPipelines
		if now.Sub(q) < 24*time.Hour {
			pipeline = i % (uiBenchPipelines * 3 / 4)
		}
		r := status.Run{Pipeline: fmt.Sprintf("p%03d", pipeline), Status: st, Trigger: status.TriggerSchedule,
			QueuedAt: q, StartedAt: q.Add(time.Second), FinishedAt: q.Add(time.Duration(5+i%60) * time.Second), Attempt: 1}
		created, err := e.store.CreateRun(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		if i == uiBenchRuns/2 {
			mid = created
		}
		last = created
	}
	b.Logf("seeded %d runs of %d pipelines in %s", uiBenchRuns, uiBenchPipelines, time.Since(t0).Round(time.Millisecond))

	// The run page's run has a long log and an hour of metrics: the page
	// tails 2,000 lines and draws 3,600 points.
	last.LogPath = filepath.Join(b.TempDir(), "run.log")
	lw, err := logs.Open(last.LogPath, logs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 50_000 {
		if err := lw.Write(runtime.LogLine{Time: last.StartedAt, Stream: "stdout", Text: fmt.Sprintf("\x1b[32mINFO\x1b[0m row %d loaded into the warehouse", i)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := lw.Close(); err != nil {
		b.Fatal(err)
	}
	last.MetricsPath = filepath.Join(b.TempDir(), "run.metrics.jsonl")
	mw, err := metrics.Open(last.MetricsPath, metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 3600 {
		if err := mw.Write(metrics.Point{Timestamp: last.StartedAt.Add(time.Duration(i) * time.Second), CPUPercent: float64(i % 100), RAMMB: float64(100 + i%50), RAMLimitMB: 512}); err != nil {
			b.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := e.store.UpdateRun(ctx, last); err != nil {
		b.Fatal(err)
	}
	deep := status.RunCursor{QueuedAt: mid.QueuedAt, ID: mid.ID}.Encode()

	for _, c := range []struct{ name, path, want string }{
		{"dashboard", "/", `data-pipeline="p199"`},
		{"runs_first_page", "/runs", `rel="next"`},
		{"runs_deep_page", "/runs?cursor=" + deep, `rel="next"`},
		{"runs_deep_page_filtered", "/runs?pipeline=p008&status=FAILED&order=asc&cursor=" + deep, `rel="next"`},
		{"run", "/runs/" + last.ID, `data-n="50000"`},
		{"pipeline", "/pipelines/p000", "chart-duration"},
	} {
		b.Run(c.name, func(b *testing.B) {
			get := func() time.Duration {
				req := httptest.NewRequest("GET", c.path, nil)
				req.Header.Set("Authorization", "Bearer "+e.token)
				rec := httptest.NewRecorder()
				start := time.Now()
				e.srv.ServeHTTP(rec, req)
				took := time.Since(start)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), c.want) {
					b.Fatalf("GET %s: %d, want 200 with %s", c.path, rec.Code, c.want)
				}
				return took
			}
			get()
			var took []time.Duration
			for b.Loop() {
				for range uiBenchSamples {
					took = append(took, get())
				}
			}
			slices.Sort(took)
			p50, p95 := took[len(took)/2], took[len(took)*95/100]
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
			b.Logf("GET %s, %d requests: p50 %s, p95 %s (target p95 < 50 ms)", c.name, len(took), p50, p95)
		})
	}
}
