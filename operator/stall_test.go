package operator

import (
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
)

// TestPipelineStallTimeout: stall_timeout in pipeline.json overrides
// STALL_TIMEOUT both ways: it turns the check on for a pipeline when the
// server has none, and 0 turns it off for one when the server has one.
func TestPipelineStallTimeout(t *testing.T) {
	files := map[string]string{
		"quiet/main.py":         "# one line, then silence\n",
		"quiet/pipeline.json":   `{"stall_timeout": 90}`,
		"patient/main.py":       "# one line, a long silence, then done\n",
		"patient/pipeline.json": `{"stall_timeout": 0}`,
	}
	programs := map[string]fake.Program{
		"quiet":   {fake.Print("one line, then silence"), fake.Forever()},
		"patient": {fake.Print("thinking"), fake.Sleep(10 * time.Minute), fake.Print("done"), fake.Exit(0)},
	}

	t.Run("on for one pipeline", func(t *testing.T) {
		t.Parallel()
		e := newFakeEnv(t, files, programs, nil)
		r := e.running(e.startRun(RunRequest{Pipeline: "quiet"}).ID)
		got := e.finalAfter(r.ID, time.Second, 10*time.Minute)
		if got.Status != status.RunFailed || got.ErrorType != status.ErrorStalled || !strings.Contains(got.Message, "no output") {
			t.Errorf("ended %s/%s %q, want FAILED/STALLED after 90s", got.Status, got.ErrorType, got.Message)
		}
		if !e.logHas(got, "no output for 90s (stall_timeout in pipeline.json)") {
			t.Errorf("log %q does not name pipeline.json's stall_timeout", e.logText(got))
		}
	})
	t.Run("off for one pipeline", func(t *testing.T) {
		t.Parallel()
		e := newFakeEnv(t, files, programs, func(c *Config) { c.StallTimeout = time.Minute })
		r := e.running(e.startRun(RunRequest{Pipeline: "patient"}).ID)
		got := e.finalAfter(r.ID, time.Second, 20*time.Minute)
		if got.Status != status.RunSuccess {
			t.Errorf("ended %s/%s %q, want SUCCESS (stall_timeout 0 turns STALL_TIMEOUT off)", got.Status, got.ErrorType, got.Message)
		}
	})
}
