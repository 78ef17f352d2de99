package operator

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
)

// heldRunState counts what the operator keeps in memory for runs: runners,
// live log and metric hubs, warm-up containers. All of it belongs to runs
// that are not finished; a finished run holds none of it.
func heldRunState(o *Operator) map[string]int {
	o.preheat.mu.Lock()
	warmups := len(o.preheat.active)
	o.preheat.mu.Unlock()
	return map[string]int{
		"runners":     o.ActiveRuns(),
		"log hubs":    o.LogHubs().Len(),
		"metric hubs": o.MetricHubs().Len(),
		"warm-ups":    warmups,
	}
}

// TestFinishedRunsReleaseTheirState: whichever way a run ends (success,
// failure, timeout, cancelled running or queued, refused at shutdown), the
// operator's per-run state returns to empty, so 10,000 runs cost no more
// memory than one (BenchmarkOperatorRSS10000 measures it).
func TestFinishedRunsReleaseTheirState(t *testing.T) {
	files := maps.Clone(lifecyclePipelines)
	files["fails/main.py"] = "raise SystemExit(1)\n"
	programs := lifecyclePrograms()
	programs["fails"] = fake.Program{fake.Print("failing"), fake.Exit(1)}
	e := newFakeEnv(t, files, programs, func(c *Config) { c.MaxConcurrentRuns = 2 })
	ctx := context.Background()
	empty := map[string]int{"runners": 0, "log hubs": 0, "metric hubs": 0, "warm-ups": 0}
	checkEmpty := func(when string) {
		t.Helper()
		e.advanceUntil("per-run state released "+when, time.Second, time.Minute, func() bool {
			got := heldRunState(e.op)
			return got["runners"]+got["log hubs"]+got["metric hubs"]+got["warm-ups"] == 0
		})
	}

	for _, p := range []string{"hello", "fails", "oom"} {
		e.finalAfter(e.startRun(RunRequest{Pipeline: p}).ID, time.Second, time.Minute)
	}
	checkEmpty("after a success and failures")

	slow := e.running(e.startRun(RunRequest{Pipeline: "slow"}).ID)
	busy := e.running(e.startRun(RunRequest{Pipeline: "forever"}).ID)
	queued := e.startRun(RunRequest{Pipeline: "hello", Queue: true})
	if held := heldRunState(e.op); held["runners"] != 2 || held["log hubs"] != 2 || held["metric hubs"] != 2 {
		t.Errorf("with two runs going the operator holds %v, want 2 runners, log and metric hubs", held)
	}
	if err := e.op.CancelRun(ctx, queued.ID); err != nil {
		t.Fatal(err)
	}
	cancel(e, busy)
	if got := e.finalAfter(slow.ID, time.Second, time.Minute); got.Status != status.RunTimeout {
		t.Errorf("slow ended %s, want TIMEOUT", got.Status)
	}
	e.finalAfter(busy.ID, time.Second, time.Minute)
	checkEmpty("after a timeout and cancels")

	// A run admitted just as the operator stops taking runs is ended at
	// once; the log hub its admission opened goes with it.
	r := e.startRun(RunRequest{Pipeline: "forever"})
	cancel(e, r)
	e.finalAfter(r.ID, time.Second, time.Minute)
	stored, err := e.store.CreateRun(ctx, status.Run{Pipeline: "hello", Status: status.RunPending, Trigger: status.TriggerManual, QueuedAt: e.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	snap := e.op.Snapshot()
	p, _ := snap.Pipeline("hello")
	e.op.adm.setAccepting(false)
	e.op.logHubs.Open(stored.ID)
	e.op.supervise(e.op.newRunner(stored, p, nil, nil), false)
	e.op.adm.setAccepting(true)
	if got, _ := e.store.GetRun(ctx, stored.ID); got.Status != status.RunInterrupted {
		t.Errorf("run refused at shutdown is %s, want INTERRUPTED", got.Status)
	}
	if got := heldRunState(e.op); !maps.Equal(got, empty) {
		t.Errorf("after a run refused at shutdown the operator holds %v, want nothing", got)
	}
}
