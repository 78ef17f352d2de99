package operator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
)

// preheatPipelines have good, bad and no requirements.
var preheatPipelines = map[string]string{
	"withreq/main.py":          examplePipelines["withreq/main.py"],
	"withreq/requirements.txt": examplePipelines["withreq/requirements.txt"],
	"badreq/main.py":           examplePipelines["badreq/main.py"],
	"badreq/requirements.txt":  examplePipelines["badreq/requirements.txt"],
	"hello/main.py":            examplePipelines["hello/main.py"],
}

func preheatOn(c *Config) { c.PreHeat = true }

// cacheRow waits until the pipeline's row has the given cache status.
func (e *runEnv) cacheRow(name, want string, within time.Duration) status.Pipeline {
	e.t.Helper()
	var row status.Pipeline
	e.waitFor(name+" cache "+want, within, func() bool {
		var err error
		row, err = e.store.GetPipelineStats(context.Background(), name)
		return err == nil && row.CacheStatus == want
	})
	return row
}

// syncTo syncs the commit sha and returns once afterPublish for it is done:
// the Run loop calls it inside the sync, so a second sync having finished
// means the first one's afterPublish returned.
func (e *runEnv) syncTo(sha string) {
	e.t.Helper()
	e.op.RequestSync(TriggerManual)
	e.waitFor("revision "+sha[:12]+" live", 30*time.Second, func() bool {
		s := e.op.Snapshot()
		return s != nil && s.Revision == sha
	})
	mark := e.op.SyncState().Last.FinishedAt
	e.op.RequestSync(TriggerManual)
	e.waitFor("a follow-up sync", 30*time.Second, func() bool {
		st := e.op.SyncState()
		return !st.Running && st.Last.FinishedAt.After(mark)
	})
}

func (e *runEnv) inFlightWarmups() int {
	e.op.preheat.mu.Lock()
	defer e.op.preheat.mu.Unlock()
	return len(e.op.preheat.warming)
}

func (e *runEnv) preheatContainers() []runtime.Container {
	e.t.Helper()
	cs, err := e.rt.List(context.Background(), map[string]string{runtime.LabelKind: "preheat", runtime.LabelInstance: e.cfg.Instance})
	if err != nil {
		e.t.Fatalf("list warm-up containers: %v", err)
	}
	return cs
}

// TestPreheatWarmsBeforeFirstRun checks that a published revision's
// requirements are warmed, recorded, and make the first run as fast to set
// up as a cached one; and that a failed warm-up is recorded with uv's
// message and does not hold back the run, which fails SETUP_FAILED.
func TestPreheatWarmsBeforeFirstRun(t *testing.T) {
	begin := time.Now().UTC()
	env := newRunEnv(t, preheatPipelines, preheatOn)
	// The first sync's afterPublish ran before Ready: from here on the
	// warm-ups are queued or running.
	ready := time.Now()
	row := env.cacheRow("withreq", CacheWarm, 2*time.Minute)
	warmup := time.Since(ready)
	t.Logf("publish -> withreq warm: %s", warmup)

	p, _ := env.op.Snapshot().Pipeline("withreq")
	if !row.HasRequirements || row.RequirementsHash != p.RequirementsHash || row.RequirementsHash == "" {
		t.Errorf("withreq row = %+v, want has_requirements and hash %s", row, p.RequirementsHash)
	}
	if row.LastCacheWarmup.Before(begin) || row.LastCacheWarmup.After(time.Now().UTC()) {
		t.Errorf("last_cache_warmup = %s, want between %s and now", row.LastCacheWarmup, begin)
	}

	bad := env.cacheRow("badreq", CacheFailed, 2*time.Minute)
	if !strings.Contains(bad.CacheOutput, "no-such-package-anywhere") || !bad.LastCacheWarmup.IsZero() {
		t.Errorf("badreq row: last_cache_warmup %s, output:\n%s\nwant no warm-up time and pip's message", bad.LastCacheWarmup, bad.CacheOutput)
	}
	if hello, err := env.store.GetPipelineStats(context.Background(), "hello"); err == nil && (hello.HasRequirements || hello.CacheStatus != "") {
		t.Errorf("hello (no requirements) row = %+v", hello)
	} else if err != nil && !errors.Is(err, status.ErrNotFound) {
		t.Fatal(err)
	}
	env.waitFor("warm-ups to unregister", 10*time.Second, func() bool { return env.inFlightWarmups() == 0 })
	if cs := env.preheatContainers(); len(cs) != 0 {
		t.Errorf("%d warm-up containers left: %+v", len(cs), cs)
	}

	first := env.run("withreq", nil, nil)
	second := env.run("withreq", nil, nil)
	for _, r := range []status.Run{first, second} {
		if r.Status != status.RunSuccess {
			t.Fatalf("withreq ended %s/%s (%s); log:\n%s", r.Status, r.ErrorType, r.Message, strings.Join(env.logText(r), "\n"))
		}
	}
	if env.logHas(first, "waiting for dependency installation") {
		t.Errorf("first run waited although the warm-up had finished")
	}
	t.Logf("setup: first run after warm-up %s, second (cached) %s", first.SetupDuration, second.SetupDuration)
	if first.SetupDuration <= 0 || (first.SetupDuration > 2*second.SetupDuration && first.SetupDuration > time.Second) {
		t.Errorf("first run's setup %s, cached run's %s: want the first under 2x the cached or under 1s", first.SetupDuration, second.SetupDuration)
	}

	r := env.run("badreq", nil, nil)
	if r.Status != status.RunFailed || r.ErrorType != status.ErrorSetupFailed {
		t.Errorf("badreq after a failed warm-up ended %s/%s (%s), want FAILED/SETUP_FAILED", r.Status, r.ErrorType, r.Message)
	}

	// The cold figure, for comparison: the same pipeline without pre-heating.
	cold := newRunEnv(t, preheatPipelines, nil)
	c := cold.run("withreq", nil, nil)
	if c.Status != status.RunSuccess {
		t.Fatalf("cold withreq ended %s (%s)", c.Status, c.Message)
	}
	// The row exists for the run counters; the cache state stays unset.
	if row, err := cold.store.GetPipelineStats(context.Background(), "withreq"); err != nil || row.CacheStatus != "" || row.RequirementsHash != "" {
		t.Errorf("UV_PRE_HEAT off: row %+v (err %v), want no cache state", row, err)
	}
	t.Logf("setup: cold run without pre-heat %s", c.SetupDuration)
}

// TestPreheatRunWaits checks the per-pipeline lock: a run admitted while its
// pipeline's requirements are being warmed waits, says so in its log, and
// goes on once the warm-up is done.
func TestPreheatRunWaits(t *testing.T) {
	env := newFakeEnv(t, map[string]string{"hello/main.py": examplePipelines["hello/main.py"]}, map[string]fake.Program{}, preheatOn)
	// Take every warm-up slot, so the next warm-up stays queued (and its
	// pipeline locked) for as long as the test likes.
	sem := env.op.preheat.sem
	for range cap(sem) {
		sem <- struct{}{}
	}
	released := false
	release := func() {
		if !released {
			released = true
			for range cap(sem) {
				<-sem
			}
		}
	}
	t.Cleanup(release)

	sha := env.remote.Commit("add withreq", map[string]string{
		"withreq/main.py":          examplePipelines["withreq/main.py"],
		"withreq/requirements.txt": examplePipelines["withreq/requirements.txt"],
	})
	env.syncTo(sha)
	env.cacheRow("withreq", CacheWarming, 10*time.Second)

	r, err := env.op.RunPipeline(context.Background(), RunRequest{Pipeline: "withreq"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	got, err := env.store.GetRun(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != status.RunPending || got.ContainerID != "" {
		t.Fatalf("run during the warm-up is %s (container %q), want PENDING without a container", got.Status, got.ContainerID)
	}
	if got.Message != "waiting for dependency installation" {
		t.Errorf("run message during the warm-up = %q", got.Message)
	}

	// A second run, cancelled while it waits, ends without a container.
	waiting, err := env.op.RunPipeline(context.Background(), RunRequest{Pipeline: "withreq"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.op.CancelRun(context.Background(), waiting.ID); err != nil {
		t.Fatal(err)
	}
	if got := env.finalAfter(waiting.ID, 100*time.Millisecond, time.Minute); got.Status != status.RunCancelled || got.ContainerID != "" {
		t.Errorf("run cancelled during the warm-up ended %s with container %q", got.Status, got.ContainerID)
	}

	release()
	start := time.Now()
	r = env.finalAfter(r.ID, 100*time.Millisecond, 2*time.Minute)
	t.Logf("run finished %s after the warm-up slot was freed; setup %s", time.Since(start), r.SetupDuration)
	if r.Status != status.RunSuccess {
		t.Fatalf("withreq ended %s/%s (%s); log:\n%s", r.Status, r.ErrorType, r.Message, strings.Join(env.logText(r), "\n"))
	}
	for _, want := range []string{"waiting for dependency installation", "dependencies installed"} {
		if !env.logHas(r, want) {
			t.Errorf("log lacks %q:\n%s", want, strings.Join(env.logText(r), "\n"))
		}
	}
	if row := env.cacheRow("withreq", CacheWarm, 10*time.Second); row.LastCacheWarmup.IsZero() {
		t.Errorf("warm row without last_cache_warmup: %+v", row)
	}
}

// TestPreheatOnlyChangedRequirements checks that a publish that leaves a
// pipeline's requirements alone warms nothing, a changed requirements.txt
// is warmed again, and a removed one is forgotten.
func TestPreheatOnlyChangedRequirements(t *testing.T) {
	env := newFakeEnv(t, map[string]string{
		"withreq/main.py":          examplePipelines["withreq/main.py"],
		"withreq/requirements.txt": examplePipelines["withreq/requirements.txt"],
		"hello/main.py":            examplePipelines["hello/main.py"],
	}, map[string]fake.Program{}, preheatOn)
	before := env.cacheRow("withreq", CacheWarm, 2*time.Minute)
	env.waitFor("warm-ups to unregister", 10*time.Second, func() bool { return env.inFlightWarmups() == 0 })

	env.syncTo(env.remote.Commit("touch the code only", map[string]string{
		"withreq/main.py": examplePipelines["withreq/main.py"] + "print('v2')\n",
		"hello/main.py":   "print('hello v2')\n",
	}))
	if n := env.inFlightWarmups(); n != 0 {
		t.Errorf("%d warm-ups started for unchanged requirements", n)
	}
	after, err := env.store.GetPipelineStats(context.Background(), "withreq")
	if err != nil {
		t.Fatal(err)
	}
	if after.CacheStatus != CacheWarm || !after.LastCacheWarmup.Equal(before.LastCacheWarmup) {
		t.Errorf("row after an unchanged publish = %s at %s, want %s at %s", after.CacheStatus, after.LastCacheWarmup, before.CacheStatus, before.LastCacheWarmup)
	}

	env.clk.Advance(time.Minute)
	env.syncTo(env.remote.Commit("change the requirements", map[string]string{
		"withreq/requirements.txt": "# pinned\nfastflow-testpkg==1.0.0\n",
	}))
	p, _ := env.op.Snapshot().Pipeline("withreq")
	var changed status.Pipeline
	env.waitFor("the changed requirements to be warmed", 2*time.Minute, func() bool {
		changed, err = env.store.GetPipelineStats(context.Background(), "withreq")
		return err == nil && changed.CacheStatus == CacheWarm && changed.RequirementsHash == p.RequirementsHash
	})
	if changed.RequirementsHash == before.RequirementsHash || !changed.LastCacheWarmup.After(before.LastCacheWarmup) {
		t.Errorf("changed requirements: hash %s -> %s, warmed %s -> %s", before.RequirementsHash, changed.RequirementsHash, before.LastCacheWarmup, changed.LastCacheWarmup)
	}

	env.syncTo(env.remote.Commit("drop the requirements", map[string]string{
		"withreq/requirements.txt": "",
		"withreq/main.py":          "print('no deps')\n",
	}))
	gone, err := env.store.GetPipelineStats(context.Background(), "withreq")
	if err != nil {
		t.Fatal(err)
	}
	if gone.HasRequirements || gone.RequirementsHash != "" || gone.CacheStatus != "" || !gone.LastCacheWarmup.Equal(changed.LastCacheWarmup) {
		t.Errorf("row after requirements.txt was removed = %+v", gone)
	}
}
