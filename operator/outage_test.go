package operator

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// TestDatabaseOutageLosesNoOutcome: PostgreSQL goes away while a run ends.
// The outcome is retried until the database is back, then stored once and
// counted once; the container (and with it the engine's copy of the
// output) stays until the outcome is stored. A real cluster of the test's
// own is stopped and started; the runtime is the fake, on a manual clock.
func TestDatabaseOutageLosesNoOutcome(t *testing.T) {
	pg := testenv.PrivatePostgres(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{"job/main.py": "# a minute of work\n"})
	data := t.TempDir()
	clk := fake.NewClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	rt := fake.New(fake.Config{
		Clock:        clk,
		RevisionsDir: filepath.Join(data, "revisions"),
		CacheDirs:    map[string]string{runtime.CacheUV: filepath.Join(data, "uv-cache")},
		Program: func(runtime.RunSpec) fake.Program {
			return fake.Program{fake.Print("working"), fake.Sleep(time.Minute), fake.Print("done"), fake.Exit(0)}
		},
	})
	env := &fakeEnv{clk: clk, fake: rt}
	env.runEnv = openRunEnvDB(t, remote, data, pg.URL, rt, func(c *Config) {
		c.Clock, c.WorkerImage, c.WorkerMounts = clk, "fake-worker", nil
	})
	r := env.running(env.startRun(RunRequest{Pipeline: "job"}).ID)

	pg.Stop()
	// The run ends with the database away; its end is retried.
	env.advanceUntil("the container to exit", time.Second, 2*time.Minute, func() bool {
		c, _ := rt.ContainerOfRun(r.ID)
		return c.State == runtime.StateExited
	})
	for range 20 {
		clk.Advance(2 * time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	if c, _ := rt.ContainerOfRun(r.ID); c.Removed {
		t.Fatal("the container was removed before the outcome was stored")
	}
	if !env.isActive(r.ID) {
		t.Fatal("the runner gave up while the database was away")
	}

	pg.Start()
	got := env.finalAfter(r.ID, time.Second, 5*time.Minute)
	if got.Status != status.RunSuccess || got.ExitCode == nil || *got.ExitCode != 0 {
		t.Errorf("after the outage the run is %s (%s), want SUCCESS", got.Status, got.Message)
	}
	if lines := env.logText(got); len(lines) != 2 {
		t.Errorf("log %q, want both lines", lines)
	}
	st, err := env.store.GetPipelineStats(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalRuns != 1 || st.SuccessfulRuns != 1 {
		t.Errorf("counters %+v, want the run counted once", st)
	}
	env.advanceUntil("the container to be removed", time.Second, time.Minute, func() bool {
		c, _ := rt.ContainerOfRun(r.ID)
		return c.Removed
	})
}

// TestLockedSQLiteLosesNoOutcome: another process holds the SQLite file's
// write lock while a run ends (longer than the store's busy timeout); the
// outcome is stored once the lock is released, and counted once.
func TestLockedSQLiteLosesNoOutcome(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t, map[string]string{"job/main.py": "# a minute\n"},
		map[string]fake.Program{"job": {fake.Print("working"), fake.Sleep(time.Minute), fake.Exit(0)}}, nil)
	r := e.running(e.startRun(RunRequest{Pipeline: "job"}).ID)

	// With a busy timeout: the operator writes now and then (the leader
	// lease, heartbeats), and the lock is taken between its writes.
	db, err := sql.Open("sqlite", filepath.Join(e.data, sqlstore.FileName)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	e.advanceUntil("the container to exit", time.Second, 2*time.Minute, func() bool {
		c, _ := e.fake.ContainerOfRun(r.ID)
		return c.State == runtime.StateExited
	})
	// Past the store's 10 s busy timeout: the first write has failed.
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		e.clk.Advance(time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	if c, _ := e.fake.ContainerOfRun(r.ID); c.Removed || !e.isActive(r.ID) {
		t.Fatalf("while the database was locked: container removed=%v, runner active=%v", c.Removed, e.isActive(r.ID))
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	got := e.finalAfter(r.ID, time.Second, 5*time.Minute)
	if st := e.stats("job"); got.Status != status.RunSuccess || st.TotalRuns != 1 || st.SuccessfulRuns != 1 {
		t.Errorf("after the lock: %s, counters %+v; want SUCCESS counted once", got.Status, st)
	}
}
