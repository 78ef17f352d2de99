package operator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// The lifecycle tests run the operator on the fake runtime and a manual
// clock. Each pins one behaviour the Docker tests prove on the real engine,
// or one the real engine cannot be made to show on demand (a daemon that
// drops out mid-stop, a Stop that hangs).

var lifecyclePipelines = map[string]string{
	"hello/main.py":         "print('hi')\n",
	"forever/main.py":       "import time\ntime.sleep(1e9)\n",
	"slow/main.py":          "# times out\n",
	"slow/pipeline.json":    `{"timeout": 30}`,
	"flaky/main.py":         "raise SystemExit(3)\n",
	"flaky/pipeline.json":   `{"retry_attempts": 2, "retry_delay": 60}`,
	"oom/main.py":           "# allocates\n",
	"oom/pipeline.json":     `{"mem_hard_limit": "64m"}`,
	"tailing/main.py":       "# prints, then sleeps\n",
	"tailing/pipeline.json": `{"timeout": 3600}`,
}

func lifecyclePrograms() map[string]fake.Program {
	return map[string]fake.Program{
		"hello":   {fake.Print("::fastflow::uv_version=uv 0.9.2"), fake.Print("::fastflow::start"), fake.Print("hi"), fake.Exit(0)},
		"forever": {fake.Print("working"), fake.Forever()},
		"slow":    {fake.Print("slow start"), fake.Forever()},
		"flaky":   {fake.Print("about to fail"), fake.Exit(3)},
		"oom":     {fake.Print("allocating"), fake.OOM()},
		"tailing": {fake.Print("line 1"), fake.Sleep(time.Second), fake.Print("line 2"), fake.Sleep(time.Second), fake.Print("line 3"), fake.Sleep(time.Second), fake.Print("line 4"), fake.Sleep(time.Minute), fake.Print("line 5"), fake.Exit(0)},
	}
}

func TestLifecycleOutcomes(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), nil)
	tests := []struct {
		pipeline  string
		want      status.RunStatus
		errorType status.ErrorType
		message   string
	}{
		{"hello", status.RunSuccess, "", ""},
		{"flaky", status.RunFailed, status.ErrorExitCode, "exited with code 3"},
		{"oom", status.RunFailed, status.ErrorOOM, "out of memory (limit 64 MiB)"},
	}
	for _, tt := range tests {
		t.Run(tt.pipeline, func(t *testing.T) {
			r := e.startRun(RunRequest{Pipeline: tt.pipeline})
			r = e.finalAfter(r.ID, 100*time.Millisecond, time.Minute)
			if r.Status != tt.want || r.ErrorType != tt.errorType || !strings.Contains(r.Message, tt.message) {
				t.Errorf("%s ended %s/%s %q, want %s/%s %q", tt.pipeline, r.Status, r.ErrorType, r.Message, tt.want, tt.errorType, tt.message)
			}
			if c, ok := e.fake.ContainerOfRun(r.ID); !ok || !c.Removed {
				t.Errorf("container of %s not removed after the outcome was stored", tt.pipeline)
			}
		})
	}
	hello := e.runOf(t, "hello")
	if hello.UVVersion != "uv 0.9.2" {
		t.Errorf("uv version %q, want the wrapper's marker", hello.UVVersion)
	}
	if got := e.logText(hello); !slicesEqual(got, []string{"hi"}) {
		t.Errorf("hello log = %q, want only the pipeline's line (markers consumed)", got)
	}
	// An OOM kill between two samples still shows the limit as the peak.
	if oom := e.runOf(t, "oom"); oom.PeakRAMBytes < 64<<20 {
		t.Errorf("OOM run peak RAM %d, want at least its 64 MiB limit", oom.PeakRAMBytes)
	}
}

func (e *fakeEnv) runOf(t *testing.T, pipeline string) status.Run {
	t.Helper()
	page, err := e.store.ListRuns(context.Background(), status.RunFilter{Pipeline: pipeline, Limit: 1})
	if err != nil || len(page.Runs) == 0 {
		t.Fatalf("runs of %s: %v", pipeline, err)
	}
	return page.Runs[0]
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// TestLifecycleStops covers every way the operator ends a run itself, with
// a runtime that behaves and with one that does not: the outcome is always
// the operator's reason, never FAILED, never RUNNING for good.
func TestLifecycleStops(t *testing.T) {
	tests := []struct {
		name    string
		program fake.Program
		mod     func(*Config)
		// fault is applied once the run runs; act ends it.
		fault   func(e *fakeEnv) (undo func())
		act     func(e *fakeEnv, r status.Run)
		want    status.RunStatus
		errType status.ErrorType
		message string
		logHas  string
	}{
		{
			name:    "cancel",
			program: fake.Program{fake.Print("working"), fake.Forever()},
			act:     cancel,
			want:    status.RunCancelled, message: "cancelled", logHas: "stop requested",
		},
		{
			name:    "cancel, SIGTERM ignored: killed after the grace",
			program: fake.Program{fake.Print("working"), fake.IgnoreTERM(), fake.Forever()},
			act:     cancel,
			want:    status.RunCancelled, message: "cancelled",
		},
		{
			name:    "cancel while the daemon is away",
			program: fake.Program{fake.Print("working"), fake.Forever()},
			fault: func(e *fakeEnv) func() {
				e.fake.SetAvailable(false)
				return func() { e.fake.SetAvailable(true) }
			},
			act:  cancel,
			want: status.RunCancelled, message: "could not be seen to stop",
		},
		{
			name:    "cancel with a Stop that hangs",
			program: fake.Program{fake.Print("working"), fake.Forever()},
			fault:   func(e *fakeEnv) func() { return e.fake.Hang(fake.MethodStop) },
			act:     cancel,
			want:    status.RunCancelled, message: "could not be seen to stop",
		},
		{
			name:    "timeout",
			program: fake.Program{fake.Print("working"), fake.Forever()},
			mod:     func(c *Config) { c.ContainerTimeout = 30 * time.Second },
			act:     func(e *fakeEnv, r status.Run) {},
			want:    status.RunTimeout, message: "timeout of 30s", logHas: "timeout of 30s reached",
		},
		{
			name:    "timeout while the daemon is away",
			program: fake.Program{fake.Print("working"), fake.Forever()},
			mod:     func(c *Config) { c.ContainerTimeout = 30 * time.Second },
			fault: func(e *fakeEnv) func() {
				e.fake.SetAvailable(false)
				return func() { e.fake.SetAvailable(true) }
			},
			act:  func(e *fakeEnv, r status.Run) {},
			want: status.RunTimeout, message: "could not be seen to stop",
		},
		{
			name:    "stall",
			program: fake.Program{fake.Print("one line, then silence"), fake.Forever()},
			mod:     func(c *Config) { c.StallTimeout = time.Minute },
			act:     func(e *fakeEnv, r status.Run) {},
			want:    status.RunFailed, errType: status.ErrorStalled, message: "no output", logHas: "STALL_TIMEOUT",
		},
		{
			name:    "a container that vanishes",
			program: fake.Program{fake.Print("working"), fake.Forever()},
			act: func(e *fakeEnv, r status.Run) {
				if err := e.fake.Vanish(r.ContainerID); err != nil {
					e.t.Fatal(err)
				}
			},
			want: status.RunInterrupted, message: "vanished",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFakeEnv(t, lifecyclePipelines, map[string]fake.Program{"forever": tt.program}, tt.mod)
			r := e.startRun(RunRequest{Pipeline: "forever"})
			r = e.running(r.ID)
			undo := func() {}
			if tt.fault != nil {
				undo = tt.fault(e)
			}
			tt.act(e, r)
			got := e.finalAfter(r.ID, time.Second, 10*time.Minute)
			// Once the fault is gone, the container goes too.
			undo()
			if got.ContainerID != "" {
				e.advanceUntil("the container removed", 5*time.Second, 10*time.Minute, func() bool {
					c, _ := e.fake.ContainerOfRun(r.ID)
					return c.Removed
				})
			}
			if got.Status != tt.want || got.ErrorType != tt.errType || !strings.Contains(got.Message, tt.message) {
				t.Errorf("ended %s/%s %q, want %s/%s containing %q", got.Status, got.ErrorType, got.Message, tt.want, tt.errType, tt.message)
			}
			if tt.logHas != "" && !e.logHas(got, tt.logHas) {
				t.Errorf("log %q lacks %q", e.logText(got), tt.logHas)
			}
			st := e.stats("forever")
			counted := st.TotalRuns + st.CancelledRuns + st.InterruptedRuns
			if counted != 1 {
				t.Errorf("counters %+v count the run %d times, want once", st, counted)
			}
			if got.Status == status.RunCancelled && st.TotalRuns != 0 {
				t.Errorf("a cancelled run is in total_runs: %+v", st)
			}
		})
	}
}

// reopenStore opens the env's database again after its operator stopped.
func (e *fakeEnv) reopenStore() status.Store {
	e.t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: e.data})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { store.Close() })
	return store
}

func cancel(e *fakeEnv, r status.Run) {
	e.t.Helper()
	if err := e.op.CancelRun(context.Background(), r.ID); err != nil {
		e.t.Fatalf("cancel: %v", err)
	}
}

func TestLifecycleCancelErrors(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), nil)
	r := e.startRun(RunRequest{Pipeline: "hello"})
	r = e.finalAfter(r.ID, 100*time.Millisecond, time.Minute)
	ctx := context.Background()
	if err := e.op.CancelRun(ctx, r.ID); !errors.Is(err, ErrRunNotActive) {
		t.Errorf("cancel of a finished run = %v, want ErrRunNotActive", err)
	}
	if err := e.op.CancelRun(ctx, "0000-no-such-run"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("cancel of an unknown run = %v, want ErrRunNotFound", err)
	}
}

// TestLifecycleDaemonAwayAndBack: the runtime drops out mid-run and comes
// back; the run is re-attached and its log has every line exactly once.
func TestLifecycleDaemonAwayAndBack(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), nil)
	r := e.startRun(RunRequest{Pipeline: "tailing"})
	r = e.running(r.ID)
	e.advanceUntil("two lines", 500*time.Millisecond, time.Minute, func() bool { return e.liveLines(r) >= 2 })
	e.fake.SetAvailable(false)
	e.clk.Advance(2 * time.Second) // lines 3 and 4 go to the daemon only
	e.fake.SetAvailable(true)
	got := e.finalAfter(r.ID, time.Second, 5*time.Minute)
	if got.Status != status.RunSuccess {
		t.Fatalf("ended %s %q, want SUCCESS", got.Status, got.Message)
	}
	want := []string{"line 1", "line 2", "line 3", "line 4", "line 5"}
	if lines := e.logText(got); !slicesEqual(lines, want) {
		t.Errorf("log = %q, want %q", lines, want)
	}
}

// liveLines is how many lines a live run has published.
func (e *fakeEnv) liveLines(r status.Run) int64 {
	h, ok := e.op.LogHubs().Get(r.ID)
	if !ok {
		return 0
	}
	return h.Last()
}

func TestLifecycleRetries(t *testing.T) {
	t.Run("backoff", func(t *testing.T) {
		t.Parallel()
		e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), nil)
		first := e.startRun(RunRequest{Pipeline: "flaky"})
		first = e.finalAfter(first.ID, 100*time.Millisecond, time.Minute)
		chain := e.retryChain(t, first, 3)
		// retry_delay 60 s, doubled per attempt.
		for i, wantGap := range []time.Duration{60 * time.Second, 120 * time.Second} {
			gap := chain[i+1].StartedAt.Sub(chain[i].FinishedAt)
			// Never early; late by how far the test moved the clock
			// before the dispatcher re-armed its timer (a loaded machine).
			if gap < wantGap || gap > wantGap+30*time.Second {
				t.Errorf("attempt %d started %s after attempt %d ended, want %s", i+2, gap, i+1, wantGap)
			}
		}
		st := e.stats("flaky")
		if st.TotalRuns != 3 || st.FailedRuns != 3 {
			t.Errorf("counters %+v, want 3 total, 3 failed", st)
		}
	})
	t.Run("across a restart during retry_delay", func(t *testing.T) {
		t.Parallel()
		e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), nil)
		first := e.startRun(RunRequest{Pipeline: "flaky"})
		first = e.finalAfter(first.ID, 100*time.Millisecond, time.Minute)
		e.waitFor("the retry to be queued", 10*time.Second, func() bool { return len(e.runsOf("flaky")) == 2 })
		e.restart(nil)
		chain := e.retryChain(t, first, 3)
		if gap := chain[1].StartedAt.Sub(first.FinishedAt); gap < time.Minute {
			t.Errorf("the retry started %s after the failure, before its retry_delay", gap)
		}
	})
}

// retryChain advances the clock until n attempts of first's pipeline ended
// and checks their links.
func (e *fakeEnv) retryChain(t *testing.T, first status.Run, n int) []status.Run {
	t.Helper()
	var chain []status.Run
	e.advanceUntil(fmt.Sprintf("%d attempts", n), time.Second, 10*time.Minute, func() bool {
		chain = e.runsOf(first.Pipeline)
		return len(chain) == n && chain[n-1].Status.Final() && e.op.ActiveRuns() == 0
	})
	for i, r := range chain {
		if r.Attempt != i+1 || r.Status != status.RunFailed {
			t.Errorf("attempt %d: attempt %d status %s", i+1, r.Attempt, r.Status)
		}
		if i > 0 && (r.RetryOf != chain[i-1].ID || r.Trigger != status.TriggerRetry) {
			t.Errorf("attempt %d: retry_of %q trigger %s, want %q, retry", i+1, r.RetryOf, r.Trigger, chain[i-1].ID)
		}
	}
	return chain
}

// TestLifecycleReattach: an operator that stops with SHUTDOWN_POLICY=detach
// leaves the run going; the next one re-attaches, resumes the log without a
// gap or a double, keeps counting the timeout from the start, and finishes
// the run once.
func TestLifecycleReattach(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), nil)
	r := e.startRun(RunRequest{Pipeline: "tailing"})
	r = e.running(r.ID)
	e.advanceUntil("two lines", 500*time.Millisecond, time.Minute, func() bool { return e.liveLines(r) >= 2 })
	e.restart(nil)
	if c, _ := e.fake.ContainerOfRun(r.ID); c.Stopped {
		t.Fatal("detach stopped the container")
	}
	got := e.finalAfter(r.ID, time.Second, 5*time.Minute)
	want := []string{"line 1", "line 2", "line 3", "line 4", "line 5"}
	if got.Status != status.RunSuccess || !slicesEqual(e.logText(got), want) {
		t.Errorf("re-attached run ended %s with log %q, want SUCCESS with %q", got.Status, e.logText(got), want)
	}
	if st := e.stats("tailing"); st.TotalRuns != 1 || st.SuccessfulRuns != 1 {
		t.Errorf("counters %+v, want the run counted once", st)
	}
}

func TestLifecycleShutdown(t *testing.T) {
	tests := []struct {
		policy string
		want   status.RunStatus
	}{
		{ShutdownStop, status.RunInterrupted},
		{ShutdownDetach, status.RunRunning},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), func(c *Config) { c.ShutdownPolicy = tt.policy })
			r := e.startRun(RunRequest{Pipeline: "forever"})
			e.running(r.ID)
			e.stop()
			store := e.reopenStore()
			got, err := store.GetRun(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want {
				t.Errorf("after shutdown the run is %s (%s), want %s", got.Status, got.Message, tt.want)
			}
			c, _ := e.fake.ContainerOfRun(r.ID)
			if stopped := c.Stopped || c.Removed; stopped != (tt.policy == ShutdownStop) {
				t.Errorf("container stopped=%v removed=%v under %s", c.Stopped, c.Removed, tt.policy)
			}
			if tt.policy == ShutdownDetach {
				if err := e.fake.Remove(context.Background(), c.ID); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestLifecycleQueue: a full house refuses a run without "queue" and queues
// one with it; queued runs start in the order they came, as slots free.
func TestLifecycleQueue(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), func(c *Config) { c.MaxConcurrentRuns = 1 })
	ctx := context.Background()
	busy := e.running(e.startRun(RunRequest{Pipeline: "forever"}).ID)
	if _, err := e.op.RunPipeline(ctx, RunRequest{Pipeline: "hello"}); !errors.Is(err, ErrTooManyRuns) {
		t.Fatalf("run over the limit = %v, want ErrTooManyRuns", err)
	}
	var queued []status.Run
	for range 3 {
		q := e.startRun(RunRequest{Pipeline: "hello", Queue: true})
		if q.Status != status.RunPending || q.Admitted {
			t.Fatalf("queued run is %s admitted=%v, want PENDING in the queue", q.Status, q.Admitted)
		}
		queued = append(queued, q)
	}
	e.waitFor("the queue length", 10*time.Second, func() bool { e.clk.Advance(time.Second); return e.op.QueuedRuns() == 3 })
	// A queued run can be cancelled without ever starting.
	if err := e.op.CancelRun(ctx, queued[1].ID); err != nil {
		t.Fatal(err)
	}
	cancel(e, busy)
	for _, id := range []string{queued[0].ID, queued[2].ID} {
		if got := e.finalAfter(id, time.Second, time.Minute); got.Status != status.RunSuccess {
			t.Errorf("queued run ended %s %q", got.Status, got.Message)
		}
	}
	got, _ := e.store.GetRun(ctx, queued[1].ID)
	if got.Status != status.RunCancelled || got.ContainerID != "" {
		t.Errorf("cancelled queued run is %s with container %q", got.Status, got.ContainerID)
	}
	first, _ := e.store.GetRun(ctx, queued[0].ID)
	third, _ := e.store.GetRun(ctx, queued[2].ID)
	if !first.StartedAt.Before(third.StartedAt) && !first.StartedAt.Equal(third.StartedAt) {
		t.Errorf("queue order: first started %s, third %s", first.StartedAt, third.StartedAt)
	}
	if !third.StartedAt.After(first.FinishedAt) && !third.StartedAt.Equal(first.FinishedAt) {
		t.Errorf("with one slot the third started (%s) before the first ended (%s)", third.StartedAt, first.FinishedAt)
	}
}

// TestLifecycleRemovedPipeline: a commit that removes a pipeline stops its
// running run with a message naming the commit, and cancels its queued one.
func TestLifecycleRemovedPipeline(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), func(c *Config) { c.MaxConcurrentRuns = 1 })
	r := e.running(e.startRun(RunRequest{Pipeline: "forever"}).ID)
	q := e.startRun(RunRequest{Pipeline: "forever", Queue: true})
	sha := e.remote.Commit("remove forever", map[string]string{"forever/main.py": ""})
	e.op.RequestSync(TriggerManual)
	for _, id := range []string{r.ID, q.ID} {
		got := e.finalAfter(id, time.Second, time.Minute)
		if got.Status != status.RunCancelled || !strings.Contains(got.Message, "removed") || !strings.Contains(got.Message, sha[:7]) {
			t.Errorf("run of the removed pipeline ended %s %q, want CANCELLED naming commit %s", got.Status, got.Message, sha[:7])
		}
	}
}

// TestLifecycleCountersUnderConcurrency: many runs ending at once, some
// cancelled, are each counted exactly once, in the right counter.
func TestLifecycleCountersUnderConcurrency(t *testing.T) {
	const n = 24
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), func(c *Config) { c.MaxConcurrentRuns = n })
	e.setProgram("forever", fake.Program{fake.Sleep(time.Minute), fake.Exit(0)})
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids []string
	)
	for range n {
		wg.Go(func() {
			r := e.startRun(RunRequest{Pipeline: "forever"})
			mu.Lock()
			ids = append(ids, r.ID)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, id := range ids {
		e.running(id)
	}
	for _, id := range ids[:n/3] {
		cancel(e, status.Run{ID: id})
	}
	for _, id := range ids {
		e.finalAfter(id, time.Second, 5*time.Minute)
	}
	st := e.stats("forever")
	if st.TotalRuns != n-n/3 || st.SuccessfulRuns != n-n/3 || st.CancelledRuns != n/3 || st.FailedRuns != 0 {
		t.Errorf("counters %+v, want %d successful of %d total and %d cancelled apart", st, n-n/3, n-n/3, n/3)
	}
}

// TestLifecycleReconcile: what an operator finds at its start, left by the
// last one: a run that ended while nobody watched (finalized from its exit
// and the daemon's copy of its output), a run that held a slot but never
// got a container (INTERRUPTED), a queued run (started, in its turn), and
// a labelled container nobody owns (removed), plus a warm-up container
// left behind (removed).
func TestLifecycleReconcile(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), func(c *Config) { c.MaxConcurrentRuns = 3 })
	ctx := context.Background()
	ended := e.running(e.startRun(RunRequest{Pipeline: "tailing"}).ID)
	blocker := e.running(e.startRun(RunRequest{Pipeline: "forever"}).ID)
	// A run that got its slot, then lost its process before its
	// container started.
	limbo, res, err := e.store.AdmitRun(ctx, status.Run{Pipeline: "hello", Revision: ended.Revision, Trigger: status.TriggerManual,
		LogPath: e.data + "/logs/hello/limbo.log", MetricsPath: e.data + "/logs/hello/limbo_metrics.jsonl"},
		status.Admission{Limit: 3, Now: e.clk.Now()})
	if err != nil || res != status.AdmitStarted {
		t.Fatalf("admit limbo run: %v, %v", res, err)
	}
	queued := e.startRun(RunRequest{Pipeline: "hello", Queue: true})
	if queued.Admitted {
		t.Fatal("the fourth run was admitted over the limit of 3")
	}
	e.stop()

	// While nobody watches: the tailing run ends, strays appear.
	e.clk.Advance(5 * time.Minute)
	for _, kind := range []string{"run", "preheat"} {
		if _, err := e.fake.Start(ctx, runtime.RunSpec{
			RunID: "stray-" + kind, Pipeline: "hello", Revision: "none", Kind: kind, Image: "fake-worker",
			Command: fake.Command(fake.Program{fake.Forever()}), Labels: map[string]string{runtime.LabelInstance: e.cfg.Instance},
		}); err != nil {
			t.Fatal(err)
		}
	}
	e.restart(func(c *Config) { c.MaxConcurrentRuns = 3; c.PreHeat = true })

	got := e.finalAfter(ended.ID, 100*time.Millisecond, time.Minute)
	if want := []string{"line 1", "line 2", "line 3", "line 4", "line 5"}; got.Status != status.RunSuccess || !slicesEqual(e.logText(got), want) {
		t.Errorf("run that ended while down: %s %q with log %q, want SUCCESS with %q", got.Status, got.Message, e.logText(got), want)
	}
	if got := e.finalAfter(limbo.ID, 100*time.Millisecond, time.Minute); got.Status != status.RunInterrupted || !strings.Contains(got.Message, "restarted") {
		t.Errorf("admitted run without a container: %s %q, want INTERRUPTED", got.Status, got.Message)
	}
	if got := e.finalAfter(queued.ID, 100*time.Millisecond, time.Minute); got.Status != status.RunSuccess {
		t.Errorf("queued run after the restart: %s %q, want SUCCESS", got.Status, got.Message)
	}
	e.advanceUntil("strays removed", 100*time.Millisecond, time.Minute, func() bool {
		for _, c := range e.fake.Containers() {
			if strings.HasPrefix(c.Spec.RunID, "stray-") && !c.Removed {
				return false
			}
		}
		return true
	})
	if c, _ := e.fake.ContainerOfRun(blocker.ID); c.Stopped || c.Removed {
		t.Error("the still running run was stopped by reconciliation")
	}
	cancel(e, blocker)
	e.finalAfter(blocker.ID, time.Second, time.Minute)
}

// TestPreheatFailure: uv failing in the warm-up is recorded with its
// output, and the run is not held back by it.
func TestPreheatFailure(t *testing.T) {
	e := newFakeEnv(t, map[string]string{
		"badreq/main.py":          "print('never')\n",
		"badreq/requirements.txt": "no-such-package==9.9\n",
	}, map[string]fake.Program{
		"preheat:badreq": {fake.PrintErr("error: no matching distribution for no-such-package==9.9"), fake.Exit(1)},
		"badreq":         {fake.Print("::fastflow::setup_failed=no matching distribution"), fake.Exit(2)},
	}, preheatOn)
	row := e.cacheRow("badreq", CacheFailed, 10*time.Second)
	if !strings.Contains(row.CacheOutput, "no matching distribution") || !strings.Contains(row.CacheOutput, "exited with code 1") {
		t.Errorf("failed warm-up output %q lacks uv's message and the exit", row.CacheOutput)
	}
	r := e.finalAfter(e.startRun(RunRequest{Pipeline: "badreq"}).ID, 100*time.Millisecond, time.Minute)
	if r.Status != status.RunFailed || r.ErrorType != status.ErrorSetupFailed {
		t.Errorf("run after a failed warm-up: %s/%s %q, want FAILED/SETUP_FAILED", r.Status, r.ErrorType, r.Message)
	}
}

// secretSource is a SecretSource over a map.
type secretSource map[string]string

func (s secretSource) Secrets(_ context.Context, names []string) (map[string]string, error) {
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		v, ok := s[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		out[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %v", secrets.ErrMissing, missing)
	}
	return out, nil
}

// TestLifecycleSecretsAndManualRetry: a secret reaches the container and
// never the log; a missing one refuses the run; a manual retry repeats the
// run's parameters and links to it.
func TestLifecycleSecretsAndManualRetry(t *testing.T) {
	const token = "s3cr3t-value-42"
	e := newFakeEnv(t, map[string]string{
		"secretive/main.py":       "import os\nprint(os.environ['TOKEN'])\n",
		"secretive/pipeline.json": `{"secrets": ["TOKEN"], "parameters": {"DAY": {"type": "string", "default": "monday"}}}`,
		"needy/main.py":           "print('x')\n",
		"needy/pipeline.json":     `{"secrets": ["NOPE"]}`,
	}, map[string]fake.Program{"secretive": {fake.Echo("stdout", "token=$TOKEN day=$DAY"), fake.Exit(1)}}, func(c *Config) {
		c.Secrets = secretSource{"TOKEN": token}
	})
	ctx := context.Background()
	r := e.finalAfter(e.startRun(RunRequest{Pipeline: "secretive", Parameters: map[string]any{"DAY": "friday"}}).ID, 100*time.Millisecond, time.Minute)
	text := strings.Join(e.logText(r), "\n")
	if strings.Contains(text, token) || !strings.Contains(text, "day=friday") {
		t.Errorf("log %q: want the line with the secret masked", text)
	}
	if !slices.Contains(r.EnvNames, "TOKEN") {
		t.Errorf("env names %v lack TOKEN", r.EnvNames)
	}
	if _, err := e.op.RunPipeline(ctx, RunRequest{Pipeline: "needy"}); !errors.Is(err, ErrMissingSecret) {
		t.Errorf("run with a missing secret = %v, want ErrMissingSecret", err)
	}
	again, err := e.op.RetryRun(ctx, r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	again = e.finalAfter(again.ID, 100*time.Millisecond, time.Minute)
	if again.RetryOf != r.ID || again.Attempt != 2 || again.Parameters["DAY"] != "friday" || again.TriggeredBy != "alice" {
		t.Errorf("manual retry = %+v, want attempt 2 of %s with DAY=friday by alice", again, r.ID)
	}
	if _, err := e.op.RetryRun(ctx, "no-such-run", "alice"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("retry of an unknown run = %v, want ErrRunNotFound", err)
	}
}

// TestLifecycleLogFaults: a log that may be short says so on the run; a
// container the engine killed as it went down ends INTERRUPTED, not
// FAILED; a stream that broke is read back from the engine.
func TestLifecycleLogFaults(t *testing.T) {
	boom := errors.New("stream reset by peer")
	tests := []struct {
		name       string
		program    fake.Program
		fault      func(e *fakeEnv)
		after      func(e *fakeEnv, r status.Run)
		want       status.RunStatus
		message    string
		incomplete bool
		lines      int
	}{
		{
			name:    "stream fails, engine keeps the output",
			program: fake.Program{fake.Print("a"), fake.Sleep(time.Second), fake.Print("b"), fake.Exit(0)},
			fault:   func(e *fakeEnv) { e.fake.FailNext(fake.MethodLogs, boom) },
			want:    status.RunSuccess, lines: 2,
		},
		{
			name:    "stream fails and the engine's copy cannot be read",
			program: fake.Program{fake.Print("a"), fake.Sleep(time.Second), fake.Print("b"), fake.Exit(0)},
			fault:   func(e *fakeEnv) { e.fake.Fail(fake.MethodLogs, boom) },
			want:    status.RunSuccess, message: "log incomplete", incomplete: true,
		},
		{
			name:    "engine goes down with its containers",
			program: fake.Program{fake.Print("working"), fake.Forever()},
			after: func(e *fakeEnv, r status.Run) {
				e.fake.SetAvailable(false)
				e.fake.KillAll()
				e.clk.Advance(3 * time.Second)
				e.fake.SetAvailable(true)
			},
			// Ended while the engine was away: what it printed
			// meanwhile may be lost, and the run says so.
			want: status.RunInterrupted, message: "container engine", incomplete: true,
		},
		{
			name:    "the run ends while the engine is away",
			program: fake.Program{fake.Print("a"), fake.Sleep(time.Second), fake.Print("b"), fake.Exit(0)},
			after: func(e *fakeEnv, r status.Run) {
				pings := e.fake.Calls(fake.MethodPing)
				e.fake.SetAvailable(false)
				// Back only once the runner has seen the engine gone
				// (it pings while it waits): an outage shorter than
				// its notice is no outage to it, and the log is whole.
				deadline := time.Now().Add(time.Minute)
				for e.fake.Calls(fake.MethodPing) == pings && time.Now().Before(deadline) {
					e.clk.Advance(time.Second)
					time.Sleep(10 * time.Millisecond)
				}
				e.clk.Advance(5 * time.Second)
				e.fake.SetAvailable(true)
			},
			want: status.RunSuccess, message: "may be missing", incomplete: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFakeEnv(t, lifecyclePipelines, map[string]fake.Program{"forever": tt.program}, nil)
			if tt.fault != nil {
				tt.fault(e)
				defer e.fake.Fail(fake.MethodLogs, nil)
			}
			r := e.running(e.startRun(RunRequest{Pipeline: "forever"}).ID)
			if tt.after != nil {
				tt.after(e, r)
			}
			got := e.finalAfter(r.ID, 500*time.Millisecond, 5*time.Minute)
			if got.Status != tt.want || !strings.Contains(got.Message, tt.message) || got.LogIncomplete != tt.incomplete {
				t.Errorf("ended %s %q incomplete=%v, want %s containing %q incomplete=%v", got.Status, got.Message, got.LogIncomplete, tt.want, tt.message, tt.incomplete)
			}
			if tt.lines > 0 && len(e.logText(got)) != tt.lines {
				t.Errorf("log %q, want %d lines", e.logText(got), tt.lines)
			}
			if tt.incomplete && !e.logHas(got, logs.LostMarkerPrefix) {
				t.Errorf("incomplete log %q carries no marker", e.logText(got))
			}
		})
	}
}

// TestLowDiskRefusesRuns: below MIN_FREE_DISK a new run is refused with a
// reason naming the folder, and DiskSpace says which is low.
func TestLowDiskRefusesRuns(t *testing.T) {
	e := newFakeEnv(t, lifecyclePipelines, lifecyclePrograms(), func(c *Config) { c.MinFreeDisk = 1 << 62 })
	_, err := e.op.RunPipeline(context.Background(), RunRequest{Pipeline: "hello"})
	if !errors.Is(err, ErrLowDisk) || !strings.Contains(err.Error(), "LOGS_DIR") {
		t.Errorf("run with no room = %v, want ErrLowDisk naming LOGS_DIR", err)
	}
	ds := e.op.DiskSpace()
	if len(ds) == 0 || !ds[0].Low || ds[0].FreeBytes == 0 || ds[0].Err != nil {
		t.Errorf("DiskSpace = %+v, want LOGS_DIR low with its free bytes", ds)
	}
}
