package operator

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/health"
)

// healthCheckedImage is a worker image of the fake daemon whose
// HEALTHCHECK is fakeImageHealthCheck: a probe every 10 s that passes
// while /tmp/health reads "ok", unhealthy after 3 failures.
const healthCheckedImage = "fake-worker-with-healthcheck"

var fakeImageHealthCheck = runtime.HealthCheck{Command: fake.FileProbe("/tmp/health", "ok"), Interval: 10 * time.Second, Retries: 3}

// TestHealthGrace: a container whose image's health check fails for
// longer than HEALTH_GRACE is stopped and the run ends FAILED/UNHEALTHY
// with the probe's last output; one that recovers within the grace, or
// with HEALTH_GRACE=0, runs on; the health history is in the run's health
// file either way, and a run without a health check has none.
func TestHealthGrace(t *testing.T) {
	const lost = "database connection lost"
	breaks := fake.Program{fake.Write("/tmp/health", "ok"), fake.Sleep(time.Minute), fake.Write("/tmp/health", lost), fake.Forever()}
	// Unhealthy from about 1m30s (three failed probes) to 2m, then well.
	recovers := fake.Program{fake.Write("/tmp/health", "ok"), fake.Sleep(time.Minute), fake.Write("/tmp/health", lost),
		fake.Sleep(time.Minute), fake.Write("/tmp/health", "ok"), fake.Sleep(2 * time.Minute), fake.Print("done"), fake.Exit(0)}
	// Unhealthy from about 1m30s until it exits at 5m.
	staysSick := fake.Program{fake.Write("/tmp/health", "ok"), fake.Sleep(time.Minute), fake.Write("/tmp/health", lost),
		fake.Sleep(4 * time.Minute), fake.Print("done"), fake.Exit(0)}
	tests := []struct {
		name        string
		prog        fake.Program
		image       string
		grace       time.Duration
		wantStatus  status.RunStatus
		wantType    status.ErrorType
		wantMessage string
		// wantStates are the history's state changes; nil: no history.
		wantStates []string
	}{
		{"unhealthy past the grace is stopped", breaks, healthCheckedImage, time.Minute, status.RunFailed, status.ErrorUnhealthy,
			"unhealthy for longer than HEALTH_GRACE=60s; last health check (exit 1): " + lost,
			[]string{health.StateStarting, health.StateHealthy, health.StateUnhealthy}},
		{"recovering within the grace runs on", recovers, healthCheckedImage, 2 * time.Minute, status.RunSuccess, "", "",
			[]string{health.StateStarting, health.StateHealthy, health.StateUnhealthy, health.StateHealthy}},
		{"HEALTH_GRACE=0 never stops", staysSick, healthCheckedImage, 0, status.RunSuccess, "", "",
			[]string{health.StateStarting, health.StateHealthy, health.StateUnhealthy}},
		{"no health check, no history", staysSick, "fake-worker", time.Minute, status.RunSuccess, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFakeEnv(t, map[string]string{"svc/main.py": "# serves\n"}, map[string]fake.Program{"svc": tt.prog}, func(c *Config) {
				c.WorkerImage = tt.image
				c.HealthGrace = tt.grace
			})
			r := e.running(e.startRun(RunRequest{Pipeline: "svc"}).ID)
			got := e.finalAfter(r.ID, time.Second, 20*time.Minute)
			if got.Status != tt.wantStatus || got.ErrorType != tt.wantType || got.Message != tt.wantMessage {
				t.Errorf("ended %s/%s %q, want %s/%s %q", got.Status, got.ErrorType, got.Message, tt.wantStatus, tt.wantType, tt.wantMessage)
			}
			path, err := health.Path(got.MetricsPath, got.ID)
			if err != nil {
				t.Fatal(err)
			}
			hist, err := health.Read(path)
			if tt.wantStates == nil {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a run without a health check has a health file: %+v, %v", hist, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("health history: %v", err)
			}
			var states []string
			for _, c := range hist.Changes {
				states = append(states, c.State)
			}
			if strings.Join(states, ",") != strings.Join(tt.wantStates, ",") {
				t.Errorf("health went %v, want %v", states, tt.wantStates)
			}
			last, ok := hist.LastProbe()
			if !ok || len(hist.Probes) < 3 {
				t.Fatalf("history keeps %d probes, want at least 3", len(hist.Probes))
			}
			if tt.wantType == status.ErrorUnhealthy {
				if last.ExitCode == 0 || !strings.Contains(last.Output, lost) {
					t.Errorf("last probe %+v, want the failure saying %q", last, lost)
				}
				// Stopped HEALTH_GRACE after the first reading that saw it
				// unhealthy: not before, and not much later (a reading
				// every grace/4, a clock step of 1 s).
				if d := got.FinishedAt.Sub(hist.Since()); d < tt.grace || d > tt.grace+tt.grace/4+5*time.Second {
					t.Errorf("stopped %v after turning unhealthy, want HEALTH_GRACE (%v) and at most a reading later", d, tt.grace)
				}
				if !e.logHas(got, "the container's health check failed: unhealthy for longer than HEALTH_GRACE=60s") {
					t.Errorf("log %q does not say why the container was stopped", e.logText(got))
				}
				snap, _ := e.fake.ContainerOfRun(got.ID)
				if !snap.Stopped {
					t.Errorf("the container was not stopped: %+v", snap)
				}
			}
		})
	}
}

// TestHealthAcrossRestart: a run re-attached after the operator restarted
// goes on with its health history in the same file and is still stopped
// when its container turns unhealthy for longer than HEALTH_GRACE.
func TestHealthAcrossRestart(t *testing.T) {
	t.Parallel()
	const lost = "database connection lost"
	prog := fake.Program{fake.Write("/tmp/health", "ok"), fake.Sleep(2 * time.Minute), fake.Write("/tmp/health", lost), fake.Forever()}
	mod := func(c *Config) {
		c.WorkerImage = healthCheckedImage
		c.HealthGrace = time.Minute
	}
	e := newFakeEnv(t, map[string]string{"svc/main.py": "# serves\n"}, map[string]fake.Program{"svc": prog}, mod)
	r := e.running(e.startRun(RunRequest{Pipeline: "svc"}).ID)
	path, err := health.Path(r.MetricsPath, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.advanceUntil("the container to be seen healthy", time.Second, time.Minute, func() bool {
		h, err := health.Read(path)
		return err == nil && h.State == health.StateHealthy
	})
	e.restart(mod)
	got := e.finalAfter(r.ID, time.Second, 20*time.Minute)
	if got.Status != status.RunFailed || got.ErrorType != status.ErrorUnhealthy || !strings.Contains(got.Message, lost) {
		t.Errorf("ended %s/%s %q, want FAILED/UNHEALTHY saying %q", got.Status, got.ErrorType, got.Message, lost)
	}
	hist, err := health.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, c := range hist.Changes {
		states = append(states, c.State)
	}
	if want := []string{health.StateStarting, health.StateHealthy, health.StateUnhealthy}; strings.Join(states, ",") != strings.Join(want, ",") {
		t.Errorf("health went %v across the restart, want %v in one history", states, want)
	}
}
