package operator

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/health"
)

// TestHealthGraceDocker: a worker image with a HEALTHCHECK (committed from
// the worker image, no build and no registry) whose probe fails once the
// pipeline breaks: the real daemon's health turns unhealthy, the operator
// stops the container after HEALTH_GRACE, and the run ends FAILED with
// error type UNHEALTHY and the probe's last output; the health history is
// kept beside the log.
func TestHealthGraceDocker(t *testing.T) {
	t.Parallel()
	requireWorkerImage(t)
	api := dockertest.API(t)
	ref := fmt.Sprintf("fastflow-worker-healthcheck:test-%d", os.Getpid())
	dockertest.CommitImage(t, api, workerImage, ref,
		`HEALTHCHECK --interval=300ms --timeout=5s --retries=2 CMD ["sh", "-c", "cat /tmp/health; grep -qx ok /tmp/health"]`)
	const lost = "database connection lost"
	e := newRunEnv(t, map[string]string{"svc/main.py": `import pathlib, time
health = pathlib.Path("/tmp/health")
health.write_text("ok\n")
print("serving", flush=True)
time.sleep(3)
health.write_text("` + lost + `\n")
print("broken", flush=True)
time.sleep(600)
`}, func(c *Config) {
		c.WorkerImage = ref
		c.HealthGrace = 2 * time.Second
	})
	got := e.run("svc", nil, nil)
	if got.Status != status.RunFailed || got.ErrorType != status.ErrorUnhealthy || !strings.Contains(got.Message, "HEALTH_GRACE=2s") ||
		!strings.Contains(got.Message, "last health check (exit 1): "+lost) {
		t.Errorf("ended %s/%s %q, want FAILED/UNHEALTHY with the probe's last output %q", got.Status, got.ErrorType, got.Message, lost)
	}
	if d := got.Duration(); d < 5*time.Second || d > 60*time.Second {
		t.Errorf("ran %v, want about 3 s healthy, two failed probes, then the 2 s grace", d)
	}
	if !e.logHas(got, "broken") || !e.logHas(got, "the container's health check failed") {
		t.Errorf("log %q misses the pipeline's line or the stop note", e.logText(got))
	}
	path, err := health.Path(got.MetricsPath, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := health.Read(path)
	if err != nil {
		t.Fatalf("health history: %v", err)
	}
	var states []string
	for _, c := range hist.Changes {
		states = append(states, c.State)
	}
	if n := len(states); n < 2 || states[n-1] != health.StateUnhealthy || !strings.Contains(strings.Join(states, ","), health.StateHealthy) {
		t.Errorf("health went %v, want healthy, then unhealthy", states)
	}
	last, ok := hist.LastProbe()
	if !ok || last.ExitCode != 1 || strings.TrimSpace(last.Output) != lost || hist.FailingStreak < 2 {
		t.Errorf("last probe %+v (streak %d), want exit 1 printing %q after at least 2 failures", last, hist.FailingStreak, lost)
	}
	if n := e.labelledContainers(map[string]bool{got.ID: true}); n != 0 {
		t.Errorf("%d containers of the run are left", n)
	}
}
