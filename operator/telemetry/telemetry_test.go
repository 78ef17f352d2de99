package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/checks"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

func newStore(t testing.TB) status.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunEventsMoveCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := newStore(t)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tel, err := New(Config{
		Version: "v1", Commit: "abc", Schema: 7,
		IsLive:     func(n string) bool { return n == "hello" },
		Queue:      raw,
		DockerPing: func(context.Context) error { return errors.New("down") },
		Clock:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	store := tel.WrapStore(raw)

	for i, name := range []string{"hello", "gone"} {
		r, err := store.CreateRun(ctx, status.Run{Pipeline: name, Status: status.RunPending, Trigger: status.TriggerManual, QueuedAt: now.Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		r.Status, r.StartedAt = status.RunRunning, now
		for range 2 { // a second RUNNING write is no second start
			if err := store.UpdateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		r.Status, r.ErrorType, r.FinishedAt, r.SetupDuration = status.RunFailed, status.ErrorOOM, now.Add(time.Duration(i+3)*time.Second), time.Second
		if ok, err := store.FinishRun(ctx, r, status.RunRunning); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		// Finishing twice changes nothing and counts nothing.
		if ok, _ := store.FinishRun(ctx, r, status.RunRunning); ok {
			t.Fatal("finished twice")
		}
	}
	if _, err := store.CreateRun(ctx, status.Run{Pipeline: "hello", Status: status.RunPending, Trigger: status.TriggerSchedule, QueuedAt: now.Add(-11 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := store.RecordFire(ctx, status.Fire{Key: "k1", Pipeline: "hello", FireAt: now.Add(-3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := store.RecordFire(ctx, status.Fire{Key: "k1", Pipeline: "hello", FireAt: now}); err == nil {
		t.Fatal("a fire key was claimed twice")
	}
	if _, err := store.RecordSync(ctx, status.SyncEvent{Trigger: "poll", Outcome: "updated", StartedAt: now.Add(-2 * time.Second), FinishedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordSync(ctx, status.SyncEvent{Trigger: "poll", Outcome: "failed", Error: "boom", StartedAt: now, FinishedAt: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	tel.WebhookDelivered(WebhookOutcome(202))
	tel.WebhookDelivered(WebhookOutcome(401))

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"started hello", testutil.ToFloat64(tel.runsStarted.WithLabelValues("hello", "manual")), 1},
		{"started folded", testutil.ToFloat64(tel.runsStarted.WithLabelValues(OtherPipeline, "manual")), 1},
		{"finished hello OOM", testutil.ToFloat64(tel.runsFinished.WithLabelValues("hello", "FAILED", "OOM")), 1},
		{"finished folded", testutil.ToFloat64(tel.runsFinished.WithLabelValues(OtherPipeline, "FAILED", "OOM")), 1},
		{"last run failed", testutil.ToFloat64(tel.lastFailed.WithLabelValues("hello")), 1},
		{"syncs updated", testutil.ToFloat64(tel.syncs.WithLabelValues("updated")), 1},
		{"syncs failed", testutil.ToFloat64(tel.syncs.WithLabelValues("failed")), 1},
		{"last success", testutil.ToFloat64(tel.lastSync), float64(now.Unix())},
		{"webhooks accepted", testutil.ToFloat64(tel.webhooks.WithLabelValues(WebhookAccepted)), 1},
		{"webhooks refused", testutil.ToFloat64(tel.webhooks.WithLabelValues(WebhookRefused)), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	want := `
# HELP fastflow_runs_queued Runs in status PENDING now (waiting for a slot, a retry delay or pre-heat).
# TYPE fastflow_runs_queued gauge
fastflow_runs_queued 1
# HELP fastflow_runs_running Runs in status RUNNING now.
# TYPE fastflow_runs_running gauge
fastflow_runs_running 0
# HELP fastflow_runs_oldest_queued_age_seconds Age of the oldest PENDING run (0 when none waits).
# TYPE fastflow_runs_oldest_queued_age_seconds gauge
fastflow_runs_oldest_queued_age_seconds 660
# HELP fastflow_docker_up 1 when the Docker daemon answered a ping at scrape time, else 0.
# TYPE fastflow_docker_up gauge
fastflow_docker_up 0
# HELP fastflow_build_info Always 1; the labels name the build.
# TYPE fastflow_build_info gauge
fastflow_build_info{commit="abc",schema="7",version="v1"} 1
`
	if err := testutil.GatherAndCompare(tel.Registry(), strings.NewReader(want),
		"fastflow_runs_queued", "fastflow_runs_running", "fastflow_runs_oldest_queued_age_seconds", "fastflow_docker_up", "fastflow_build_info"); err != nil {
		t.Error(err)
	}
	// Both runs FAILED: one duration series with two samples; a last
	// duration per pipeline label (4 s for the folded one).
	if n := testutil.CollectAndCount(tel.runDuration); n != 1 {
		t.Errorf("run duration series = %d, want 1", n)
	}
	if got := testutil.ToFloat64(tel.lastDuration.WithLabelValues(OtherPipeline)); got != 4 {
		t.Errorf("last duration of %s = %v, want 4", OtherPipeline, got)
	}
	if err := testutil.GatherAndCompare(tel.Registry(), strings.NewReader(`
# HELP fastflow_schedule_fire_delay_seconds How late a scheduled fire was claimed after its due time.
# TYPE fastflow_schedule_fire_delay_seconds histogram
fastflow_schedule_fire_delay_seconds_bucket{le="0.1"} 0
fastflow_schedule_fire_delay_seconds_bucket{le="0.5"} 0
fastflow_schedule_fire_delay_seconds_bucket{le="1"} 0
fastflow_schedule_fire_delay_seconds_bucket{le="2"} 0
fastflow_schedule_fire_delay_seconds_bucket{le="5"} 1
fastflow_schedule_fire_delay_seconds_bucket{le="10"} 1
fastflow_schedule_fire_delay_seconds_bucket{le="30"} 1
fastflow_schedule_fire_delay_seconds_bucket{le="60"} 1
fastflow_schedule_fire_delay_seconds_bucket{le="300"} 1
fastflow_schedule_fire_delay_seconds_bucket{le="900"} 1
fastflow_schedule_fire_delay_seconds_bucket{le="3600"} 1
fastflow_schedule_fire_delay_seconds_bucket{le="+Inf"} 1
fastflow_schedule_fire_delay_seconds_sum 3
fastflow_schedule_fire_delay_seconds_count 1
`), "fastflow_schedule_fire_delay_seconds"); err != nil {
		t.Error(err)
	}
}

// Many pipeline names that are not live make one series, not many.
func TestCardinalityFolded(t *testing.T) {
	t.Parallel()
	tel, err := New(Config{IsLive: func(n string) bool { return n == "a" }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		tel.RunStarted(status.Run{Pipeline: "p" + strings.Repeat("x", i%50) + string(rune('a'+i%26)), Trigger: status.TriggerManual})
	}
	tel.RunStarted(status.Run{Pipeline: "a", Trigger: status.TriggerManual})
	if n := testutil.CollectAndCount(tel.runsStarted); n != 2 {
		t.Fatalf("series = %d, want 2 (a and %s)", n, OtherPipeline)
	}
	if got := testutil.ToFloat64(tel.runsStarted.WithLabelValues(OtherPipeline, "manual")); got != 500 {
		t.Fatalf("folded = %v, want 500", got)
	}
}

func TestGoAndProcessCollectors(t *testing.T) {
	t.Parallel()
	tel, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := tel.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	for _, n := range []string{"go_goroutines", "process_cpu_seconds_total", "fastflow_build_info", "fastflow_webhook_deliveries_total", "fastflow_syncs_total"} {
		if !seen[n] {
			t.Errorf("%s missing from the scrape", n)
		}
	}
}

// Removals add up per component and kind; a zero count makes no series.
func TestRemovedCounts(t *testing.T) {
	t.Parallel()
	tel, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tel.Removed("retention", "logs", 3)
	tel.Removed("retention", "logs", 2)
	tel.Removed("janitor", "containers", 1)
	tel.Removed("janitor", "volumes", 0)
	if err := testutil.CollectAndCompare(tel.removed, strings.NewReader(`
# HELP fastflow_housekeeping_removed_total Objects removed by retention, the janitor and the uv cache trimming, by component and kind.
# TYPE fastflow_housekeeping_removed_total counter
fastflow_housekeeping_removed_total{component="janitor",kind="containers"} 1
fastflow_housekeeping_removed_total{component="retention",kind="logs"} 5
`)); err != nil {
		t.Error(err)
	}
}

// TestLeaderGauge: fastflow_leader follows the leadership at scrape time,
// labelled with the replica.
func TestLeaderGauge(t *testing.T) {
	t.Parallel()
	leading := false
	tel, err := New(Config{Leader: func() (string, bool) { return "replica-a", leading }})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{0, 1} {
		leading = want == 1
		exp := fmt.Sprintf(`
# HELP fastflow_leader 1 while this replica holds the leader lease (runs the scheduler, retention and the janitor), else 0.
# TYPE fastflow_leader gauge
fastflow_leader{replica="replica-a"} %d
`, want)
		if err := testutil.GatherAndCompare(tel.Registry(), strings.NewReader(exp), "fastflow_leader"); err != nil {
			t.Errorf("leading %v: %v", leading, err)
		}
	}
	bare, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(bare.Registry(), "fastflow_leader"); err != nil || n != 0 {
		t.Errorf("without Leader: %d series, %v; want none", n, err)
	}
}

// fastflow_checks_pending shows a real reporter's queue on a real scrape
// over HTTP; without a reporter (ChecksPending nil) the gauge is absent.
func TestChecksPendingScrape(t *testing.T) {
	t.Parallel()
	// The reporter is never started, so what it is given stays queued
	// and nothing reaches the (unreachable) API.
	rep, err := checks.New(checks.Config{Owner: "o", Repo: "r", APIURL: "http://127.0.0.1:1/",
		Token: func(context.Context) (string, error) { return "t", nil }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pending func() int
		reports int
		want    string // the sample line; "" means the metric is absent
	}{
		{"no reporter", nil, 0, ""},
		{"empty queue", rep.Pending, 0, "fastflow_checks_pending 0"},
		{"three waiting", rep.Pending, 3, "fastflow_checks_pending 3"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for j := range tt.reports {
				rep.RunStarted(status.Run{ID: fmt.Sprintf("run-%d-%d", i, j), Pipeline: "hello", Revision: "3f2c"})
			}
			tel, err := New(Config{ChecksPending: tt.pending})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(tel.Handler())
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for line := range strings.Lines(string(body)) {
				if strings.HasPrefix(line, "fastflow_checks_pending ") {
					got = strings.TrimSpace(line)
				}
			}
			if got != tt.want {
				t.Errorf("scrape has %q, want %q", got, tt.want)
			}
		})
	}
}
