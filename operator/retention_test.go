package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// retentionEnv is a SQLite store with n finished runs of each pipeline, one
// a day, each with a real log and metrics file under logs.
type retentionEnv struct {
	store status.Store
	logs  string
	clk   *fake.Clock
	start time.Time
	obs   *countingObserver
}

// countingObserver sums the removals reported to it by component and kind.
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingObserver) Removed(component, kind string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[component+"/"+kind] += n
}

func (c *countingObserver) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func newRetentionEnv(t *testing.T, n int, pipelines ...string) *retentionEnv {
	t.Helper()
	ctx := t.Context()
	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: t.TempDir(), CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &retentionEnv{store: store, logs: t.TempDir(), start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), obs: &countingObserver{}}
	e.clk = fake.NewClock(e.start.AddDate(0, 0, n))
	for _, p := range pipelines {
		for i := range n {
			e.addRun(t, p, i, status.RunSuccess)
		}
	}
	return e
}

func (e *retentionEnv) addRun(t *testing.T, p string, day int, st status.RunStatus) status.Run {
	t.Helper()
	id := fmt.Sprintf("%s-%03d", p, day)
	dir := filepath.Join(e.logs, p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := status.Run{ID: id, Pipeline: p, Status: st, QueuedAt: e.start.AddDate(0, 0, day),
		LogPath: filepath.Join(dir, id+".log"), MetricsPath: filepath.Join(dir, id+"_metrics.jsonl")}
	// Every run has a health file too, which retention removes with the
	// other two.
	for _, f := range []string{r.LogPath, r.MetricsPath, filepath.Join(dir, id+"_health.json")} {
		if err := os.WriteFile(f, []byte("line\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.store.CreateRun(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if st.Final() {
		if err := e.store.IncrementCounters(t.Context(), p, st); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (e *retentionEnv) sweeper(cfg RetentionConfig, specs map[string]*schemas.Retention) *retention {
	return newRetention(cfg, e.store, e.clk, slog.New(slog.NewTextHandler(io.Discard, nil)),
		func(p string) *schemas.Retention { return specs[p] }, e.obs)
}

// kept lists which runs of p still have both files and no removal mark,
// checking that files and rows agree.
func (e *retentionEnv) kept(t *testing.T, p string) []string {
	t.Helper()
	ids, problems := e.state(t, p)
	for _, msg := range problems {
		t.Error(msg)
	}
	return ids
}

// state lists the runs of p that keep their files, and every run whose
// files and mark disagree. While a sweep runs that is expected for a
// moment (files go before the mark is written), so the loop test waits
// for a state without problems.
func (e *retentionEnv) state(t *testing.T, p string) (kept, problems []string) {
	t.Helper()
	page, err := e.store.ListRuns(t.Context(), status.RunFilter{Pipeline: p, Order: status.OrderAsc, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Runs {
		id := r.ID
		_, logErr := os.Stat(filepath.Join(e.logs, p, id+".log"))
		_, metErr := os.Stat(filepath.Join(e.logs, p, id+"_metrics.jsonl"))
		_, healthErr := os.Stat(filepath.Join(e.logs, p, id+"_health.json"))
		switch {
		case r.LogRemoved():
			if logErr == nil || metErr == nil || healthErr == nil || r.LogPath != "" || r.MetricsPath != "" {
				problems = append(problems, fmt.Sprintf("run %s is marked removed but keeps files or paths", id))
			}
		default:
			if logErr != nil || metErr != nil || healthErr != nil {
				problems = append(problems, fmt.Sprintf("run %s is not marked but lost a file: %v %v %v", id, logErr, metErr, healthErr))
			}
			kept = append(kept, id)
		}
	}
	return kept, problems
}

func ids3(p string, days ...int) []string {
	var out []string
	for _, d := range days {
		out = append(out, fmt.Sprintf("%s-%03d", p, d))
	}
	return out
}

func TestRetentionKeepRunsAndOverride(t *testing.T) {
	t.Parallel()
	e := newRetentionEnv(t, 10, "a", "b")
	// A file already gone is fine.
	if err := os.Remove(filepath.Join(e.logs, "a", "a-000.log")); err != nil {
		t.Fatal(err)
	}
	three, zero := 3, 0
	rt := e.sweeper(RetentionConfig{Runs: 5, Batch: 2}, map[string]*schemas.Retention{"b": {Runs: &three, Days: &zero}})
	res, err := rt.sweep(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Logs != 5+7 {
		t.Errorf("removed %d logs, want 12", res.Logs)
	}
	if got, want := e.kept(t, "a"), ids3("a", 5, 6, 7, 8, 9); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("a kept %v, want %v", got, want)
	}
	if got, want := e.kept(t, "b"), ids3("b", 7, 8, 9); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("b kept %v, want %v", got, want)
	}
	r, err := e.store.GetRun(t.Context(), "a-000")
	if err != nil || r.LogRemovedReason != reasonKeepRuns || !r.LogRemovedAt.Equal(e.clk.Now().UTC()) {
		t.Errorf("a-000 = %q at %v, %v; want %s at the clock's time", r.LogRemovedReason, r.LogRemovedAt, err, reasonKeepRuns)
	}
	r, err = e.store.GetRun(t.Context(), "b-000")
	if err != nil || r.LogRemovedReason != reasonPipelineJS {
		t.Errorf("b-000 reason = %q, %v; want %s", r.LogRemovedReason, err, reasonPipelineJS)
	}
	// A second sweep finds nothing.
	if res, err := rt.sweep(t.Context()); err != nil || res.Logs != 0 {
		t.Errorf("second sweep = %+v, %v; want nothing", res, err)
	}
}

func TestRetentionDaysAndHistory(t *testing.T) {
	t.Parallel()
	e := newRetentionEnv(t, 10, "a")
	running := e.addRun(t, "a", -5, status.RunRunning)
	if err := e.store.RecordFire(t.Context(), status.Fire{Key: "a@day0", Pipeline: "a", FireAt: e.start, RunID: "a-000"}); err != nil {
		t.Fatal(err)
	}
	rt := e.sweeper(RetentionConfig{Days: 4, HistoryDays: 7}, nil)
	res, err := rt.sweep(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Now is day 10: rows before day 3 go, files before day 6.
	if res.Rows != 3 || res.Logs != 3 {
		t.Errorf("sweep = %+v, want 3 rows and 3 logs", res)
	}
	if got := [2]int{e.obs.count("retention/runs"), e.obs.count("retention/logs")}; got != [2]int{3, 3} {
		t.Errorf("observer heard %v runs and logs removed, want 3 and 3", got)
	}
	want := append([]string{running.ID}, ids3("a", 6, 7, 8, 9)...)
	if got := e.kept(t, "a"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	for _, id := range ids3("a", 0, 1, 2) {
		if _, err := e.store.GetRun(t.Context(), id); err == nil {
			t.Errorf("run %s still stored", id)
		}
		if _, err := os.Stat(filepath.Join(e.logs, "a", id+".log")); err == nil {
			t.Errorf("log of deleted run %s still on disk", id)
		}
	}
	r, err := e.store.GetRun(t.Context(), "a-003")
	if err != nil || r.LogRemovedReason != reasonMaxAge {
		t.Errorf("a-003 = %q, %v; want %s", r.LogRemovedReason, err, reasonMaxAge)
	}
	// The fire went with its run: its key can be claimed again.
	if err := e.store.RecordFire(t.Context(), status.Fire{Key: "a@day0", Pipeline: "a", FireAt: e.start}); err != nil {
		t.Errorf("fire of a deleted run still recorded: %v", err)
	}
}

// TestRetentionLoop: the loop sweeps at start, on its interval of the
// operator's clock and when poked, and stops with its context.
func TestRetentionLoop(t *testing.T) {
	t.Parallel()
	e := newRetentionEnv(t, 3, "a")
	rt := e.sweeper(RetentionConfig{Runs: 2, Interval: time.Hour}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); rt.run(ctx) }()
	waitKept := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, problems := e.state(t, "a")
			if len(problems) == 0 && fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("kept %v, want %v; %v", got, want, problems)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	e.clk.Advance(0)
	waitKept(ids3("a", 1, 2))
	e.addRun(t, "a", 3, status.RunSuccess)
	rt.poke()
	waitKept(ids3("a", 2, 3))
	e.addRun(t, "a", 4, status.RunSuccess)
	e.clk.Advance(time.Hour)
	waitKept(ids3("a", 3, 4))
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not stop with its context")
	}
}

// TestRemoveFiles: the files of a batch go, several at a time; a run whose
// file cannot be removed stays out of the result, in order, with its error.
func TestRemoveFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A directory with something in it cannot be removed like a file,
	// whoever runs the test.
	stuck := filepath.Join(dir, "stuck.log")
	if err := os.MkdirAll(filepath.Join(stuck, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	var runs []status.Run
	for i := range 40 {
		id := fmt.Sprintf("r%02d", i)
		r := status.Run{ID: id, LogPath: file(id + ".log"), MetricsPath: file(id + ".jsonl")}
		switch i {
		case 7:
			r.LogPath = stuck
		case 11:
			r.MetricsPath = filepath.Join(dir, "gone-already.jsonl")
		case 12:
			r.LogPath, r.MetricsPath = "", ""
		}
		runs = append(runs, r)
	}
	gone, err := removeFiles(runs)
	if err == nil || !strings.Contains(err.Error(), "r07") {
		t.Errorf("error = %v, want one naming run r07", err)
	}
	want := slices.Concat(runIDs(runs[:7]), runIDs(runs[8:]))
	if got := runIDs(gone); !slices.Equal(got, want) {
		t.Errorf("removed runs = %v, want %v", got, want)
	}
	for _, r := range gone {
		for _, p := range []string{r.LogPath, r.MetricsPath} {
			if _, err := os.Stat(p); p != "" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s of %s still there: %v", p, r.ID, err)
			}
		}
	}
}

// TestRetentionStuckFileHoldsUpOnlyItsRun: the rows walk spans every
// pipeline, so a file that cannot be removed must not stop it: the other
// due runs go, in batches past the stuck one, which keeps its row and
// is named in the sweep's error for the next sweep to try again.
func TestRetentionStuckFileHoldsUpOnlyItsRun(t *testing.T) {
	t.Parallel()
	e := newRetentionEnv(t, 10, "a", "b")
	// A directory with something in it cannot be removed like a file.
	stuck := filepath.Join(e.logs, "a", "a-001.log")
	if err := os.Remove(stuck); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(stuck, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Now is day 10: the rows of days 0-2 of both pipelines are due, two
	// a batch, so a-001 comes back in every batch after its first.
	res, err := e.sweeper(RetentionConfig{HistoryDays: 7, Batch: 2}, nil).sweep(t.Context())
	if err == nil || !strings.Contains(err.Error(), "a-001") {
		t.Errorf("sweep error = %v, want one naming a-001", err)
	}
	if res.Rows != 5 {
		t.Errorf("sweep deleted %d rows, want 5 (days 0-2 of a and b but a-001)", res.Rows)
	}
	for _, id := range []string{"a-000", "a-002", "b-000", "b-001", "b-002"} {
		if _, err := e.store.GetRun(t.Context(), id); err == nil {
			t.Errorf("run %s still stored", id)
		}
	}
	if r, err := e.store.GetRun(t.Context(), "a-001"); err != nil || r.LogPath != stuck {
		t.Errorf("a-001 = %+v, %v; want its row, naming its log", r, err)
	}
}
