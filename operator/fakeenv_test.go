package operator

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
)

// fakeEnv is an operator on a real repository and SQLite store, with the
// fake runtime on a manual clock: the lifecycle's behaviour, tested without
// a container engine and without sleeping through real timeouts.
type fakeEnv struct {
	*runEnv
	clk  *fake.Clock
	fake *fake.Runtime

	mu       sync.Mutex
	programs map[string]fake.Program
}

// newFakeEnv commits files and starts an operator whose containers run
// programs[pipeline] (a pipeline without one prints a line and exits 0),
// and whose warm-ups run programs["preheat:"+pipeline] (default: exit 0).
func newFakeEnv(t *testing.T, files map[string]string, programs map[string]fake.Program, mod func(*Config)) *fakeEnv {
	t.Helper()
	remote := gittest.New(t)
	remote.Commit("pipelines", files)
	return newFakeEnvOn(t, remote, "", programs, nil, mod)
}

// newFakeEnvDB is newFakeEnv on an existing repository and the PostgreSQL
// database at dbURL, which other environments (replicas) may share.
func newFakeEnvDB(t testing.TB, remote *gittest.Remote, dbURL string, mod func(*Config)) *fakeEnv {
	t.Helper()
	return newFakeEnvOn(t, remote, dbURL, map[string]fake.Program{}, nil, mod)
}

func newFakeEnvOn(t testing.TB, remote *gittest.Remote, dbURL string, programs map[string]fake.Program, wrap func(status.Store) status.Store, mod func(*Config)) *fakeEnv {
	t.Helper()
	data := t.TempDir()
	clk := fake.NewClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	fe := &fakeEnv{clk: clk, programs: programs}
	fe.fake = fake.New(fake.Config{
		Clock:        clk,
		RevisionsDir: filepath.Join(data, "revisions"),
		CacheDirs:    map[string]string{runtime.CacheUV: filepath.Join(data, "uv-cache")},
		Program:      fe.program,
		HealthChecks: map[string]runtime.HealthCheck{healthCheckedImage: fakeImageHealthCheck},
	})
	fe.runEnv = openRunEnvWrapped(t, remote, data, dbURL, fe.fake, wrap, fakeConfig(clk, mod))
	return fe
}

func openFakeEnv(t *testing.T, remote *gittest.Remote, data string, rt runtime.Runtime, clk *fake.Clock, mod func(*Config)) *runEnv {
	t.Helper()
	return openFakeEnvDB(t, remote, data, "", rt, clk, mod)
}

func openFakeEnvDB(t testing.TB, remote *gittest.Remote, data, dbURL string, rt runtime.Runtime, clk *fake.Clock, mod func(*Config)) *runEnv {
	t.Helper()
	return openRunEnvDB(t, remote, data, dbURL, rt, fakeConfig(clk, mod))
}

// fakeConfig sets what an operator on the fake runtime and clock needs,
// then mod's own settings.
func fakeConfig(clk *fake.Clock, mod func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Clock = clk
		c.WorkerImage = "fake-worker"
		c.WorkerMounts = nil
		c.StopGrace = 10 * time.Second
		if mod != nil {
			mod(c)
		}
	}
}

func (e *fakeEnv) program(spec runtime.RunSpec) fake.Program {
	e.mu.Lock()
	defer e.mu.Unlock()
	if spec.Kind == "preheat" {
		if p, ok := e.programs["preheat:"+spec.Pipeline]; ok {
			return p
		}
		return fake.Program{fake.Print("warmed"), fake.Exit(0)}
	}
	if p, ok := e.programs[spec.Pipeline]; ok {
		return p
	}
	return fake.Program{fake.Print("hello"), fake.Exit(0)}
}

// setProgram changes what new containers of pipeline run.
func (e *fakeEnv) setProgram(pipeline string, p fake.Program) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.programs[pipeline] = p
}

// restart stops the operator (with its SHUTDOWN_POLICY) and starts a new
// one on the same data, repository, daemon and clock, as a new process.
func (e *fakeEnv) restart(mod func(*Config)) {
	e.t.Helper()
	e.stop()
	next := openFakeEnv(e.t.(*testing.T), e.remote, e.data, e.fake.Connect(), e.clk, mod)
	e.runEnv = next
}

// advanceUntil moves the clock on in steps until cond holds, giving the
// operator's goroutines a moment of real time after each step, and fails
// after limit of clock time.
func (e *fakeEnv) advanceUntil(what string, step, limit time.Duration, cond func() bool) {
	e.t.Helper()
	start := e.clk.Now()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if e.clk.Since(start) > limit || time.Now().After(deadline) {
			e.t.Fatalf("%s: not after %s of clock time", what, e.clk.Since(start))
		}
		e.clk.Advance(step)
		time.Sleep(2 * time.Millisecond)
	}
}

// finalAfter advances the clock until run id is final and released.
func (e *fakeEnv) finalAfter(id string, step, limit time.Duration) status.Run {
	e.t.Helper()
	var r status.Run
	e.advanceUntil("run "+id+" to end", step, limit, func() bool {
		var err error
		r, err = e.store.GetRun(context.Background(), id)
		return err == nil && r.Status.Final() && !e.isActive(id)
	})
	return r
}

// running waits (in real time, the clock standing) until run id runs.
func (e *fakeEnv) running(id string) status.Run {
	e.t.Helper()
	var r status.Run
	e.waitFor("run "+id+" to run", 20*time.Second, func() bool {
		var err error
		r, err = e.store.GetRun(context.Background(), id)
		_, started := e.fake.ContainerOfRun(id)
		return err == nil && r.Status == status.RunRunning && started
	})
	return r
}

// start asks for a run and fails the test on an error.
func (e *fakeEnv) startRun(req RunRequest) status.Run {
	e.t.Helper()
	r, err := e.op.RunPipeline(context.Background(), req)
	if err != nil {
		e.t.Fatalf("run %s: %v", req.Pipeline, err)
	}
	return r
}

func (e *fakeEnv) stats(pipeline string) status.Pipeline {
	e.t.Helper()
	p, err := e.store.GetPipelineStats(context.Background(), pipeline)
	if err != nil {
		e.t.Fatalf("stats of %s: %v", pipeline, err)
	}
	return p
}

// liveContainers counts the fake's containers of the given runs that are
// neither exited nor removed.
func (e *fakeEnv) liveContainers(runIDs map[string]bool) int {
	n := 0
	for _, c := range e.fake.Containers() {
		if runIDs[c.Spec.RunID] && !c.Removed && c.State != runtime.StateExited {
			n++
		}
	}
	return n
}
