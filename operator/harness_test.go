package operator

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// workerImage is the local worker image `make test` builds.
const workerImage = dockertest.WorkerImage

// requireWorkerImage skips without the image on a developer machine and
// fails under CI, where `make test` must have built it.
func requireWorkerImage(t testing.TB) *docker.Client {
	t.Helper()
	return dockertest.RequireImage(t, workerImage)
}

// wheelsDir is the offline find-links folder the worker image's stand-in uv
// installs test requirements from.
func wheelsDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../examples/worker-image/testdata/wheels")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// runEnv is a complete operator on a real repository and SQLite, with a
// real Docker engine (newRunEnv) or the fake runtime (newFakeEnv).
type runEnv struct {
	t      testing.TB
	op     *Operator
	store  status.Store
	rt     runtime.Runtime
	remote *gittest.Remote
	data   string
	dbURL  string
	cfg    Config
	// wrap, when set, wraps the store the operator gets (a benchmark's
	// counting store).
	wrap func(status.Store) status.Store
	stop func()
}

func newRunEnv(t testing.TB, files map[string]string, mod func(*Config)) *runEnv {
	t.Helper()
	requireWorkerImage(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", files)
	return openRunEnv(t, remote, t.TempDir(), nil, mod)
}

// openRunEnv starts an operator on an existing repository and data
// directory: a second process on the same state.
func openRunEnv(t testing.TB, remote *gittest.Remote, data string, rt runtime.Runtime, mod func(*Config)) *runEnv {
	return openRunEnvDB(t, remote, data, "", rt, mod)
}

// openRunEnvDB is openRunEnv on the PostgreSQL database at dbURL (empty:
// SQLite in data).
func openRunEnvDB(t testing.TB, remote *gittest.Remote, data, dbURL string, rt runtime.Runtime, mod func(*Config)) *runEnv {
	t.Helper()
	return openRunEnvWrapped(t, remote, data, dbURL, rt, nil, mod)
}

// openRunEnvWrapped is openRunEnvDB with the operator's store wrapped.
func openRunEnvWrapped(t testing.TB, remote *gittest.Remote, data, dbURL string, rt runtime.Runtime, wrap func(status.Store) status.Store, mod func(*Config)) *runEnv {
	t.Helper()
	if rt == nil {
		requireWorkerImage(t)
		rt = dockerFor(t, data)
	}
	cfg := Config{
		WorkerImage:       workerImage,
		LogsDir:           filepath.Join(data, "logs"),
		MaxConcurrentRuns: 10,
		WorkerNetwork:     "none",
		WorkerEnv:         map[string]string{"UV_FIND_LINKS": "/wheels"},
		WorkerMounts:      []runtime.Mount{{Source: wheelsDir(t), Target: "/wheels", ReadOnly: true}},
		StopGrace:         2 * time.Second,
		Instance:          testInstance(data),
		RetryDelay:        time.Second,
	}
	if os.Getenv("FASTFLOW_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&cfg)
	}
	env := &runEnv{t: t, rt: rt, remote: remote, data: data, dbURL: dbURL, cfg: cfg, wrap: wrap}
	env.start()
	return env
}

// start runs an operator on env's data directory, as a fresh process would.
func (e *runEnv) start() {
	e.t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: e.data, DatabaseURL: e.dbURL})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		e.t.Fatal(err)
	}
	syncer, err := repo.NewSyncer(repo.Config{URL: e.remote.Dir, Branch: "main", DataDir: e.data, PipelinesDir: filepath.Join(e.data, "pipelines")})
	if err != nil {
		e.t.Fatal(err)
	}
	var opStore status.Store = store
	if e.wrap != nil {
		opStore = e.wrap(store)
	}
	op, err := New(e.cfg, syncer, opStore, e.rt)
	if err != nil {
		e.t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- op.Run(runCtx) }()
	stopped := false
	e.op, e.store = op, store
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("operator Run: %v", err)
		}
		store.Close()
	}
	e.t.Cleanup(e.stop)
	select {
	case <-op.Ready():
	case <-time.After(30 * time.Second):
		e.t.Fatal("operator not ready after 30 s")
	}
}

func (e *runEnv) waitFor(what string, within time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// run starts a run and waits for its final status.
func (e *runEnv) run(name string, params map[string]any, env map[string]string) status.Run {
	e.t.Helper()
	r, err := e.op.RunPipeline(context.Background(), RunRequest{Pipeline: name, Parameters: params, Env: env})
	if err != nil {
		e.t.Fatalf("run %s: %v", name, err)
	}
	return e.waitFinal(r.ID, 90*time.Second)
}

func (e *runEnv) waitFinal(id string, within time.Duration) status.Run {
	e.t.Helper()
	var r status.Run
	e.waitFor("run "+id+" to finish", within, func() bool {
		var err error
		r, err = e.store.GetRun(context.Background(), id)
		// Final in the store and released by its supervisor, so the
		// container is removed and the log closed.
		return err == nil && r.Status.Final() && !e.isActive(id)
	})
	return r
}

func (e *runEnv) isActive(id string) bool {
	return e.op.adm.lookup(id) != nil
}

// dockerFor is a Docker client that mounts the revisions and the uv cache
// of the data directory data, as cmd/fastflow wires it.
func dockerFor(t testing.TB, data string) *docker.Client {
	t.Helper()
	c, err := docker.New(docker.Config{
		RevisionsDir: filepath.Join(data, "revisions"),
		CacheDirs:    map[string]string{runtime.CacheUV: filepath.Join(data, "uv-cache")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// logText is the stored log of a run, one string per line, text only.
func (e *runEnv) logText(r status.Run) []string {
	e.t.Helper()
	lines, err := logs.Read(r.LogPath, 1, 1_000_000)
	if err != nil {
		e.t.Fatalf("read log of %s: %v", r.ID, err)
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

func (e *runEnv) logHas(r status.Run, want string) bool {
	for _, l := range e.logText(r) {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// labelledContainers counts the env's run containers, or those of the
// given runs.
func (e *runEnv) labelledContainers(runIDs map[string]bool) int {
	t := e.t
	t.Helper()
	cs, err := e.rt.List(context.Background(), e.op.ownLabels())
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	n := 0
	for _, c := range cs {
		if runIDs == nil || runIDs[c.RunID] {
			n++
		}
	}
	return n
}

func globLogs(data, runID string) ([]string, error) {
	return filepath.Glob(filepath.Join(data, "logs", "*", runID+".log"))
}

// testInstance names the installation on data the same way in every
// process, so a restarted operator owns what the killed one started. Each
// name is remembered so that TestMain checks only this package's
// containers: other packages' tests run at the same time.
func testInstance(data string) string {
	name := "test-" + filepath.Base(filepath.Dir(data)) + "-" + filepath.Base(data)
	ownInstances.Store(name, true)
	return name
}

// ownInstances are the instance labels this test process used.
var ownInstances sync.Map
