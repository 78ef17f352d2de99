package operator

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

func newTestOperator(t *testing.T, url string, interval time.Duration) (*Operator, status.Store) {
	t.Helper()
	data := t.TempDir()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	syncer, err := repo.NewSyncer(repo.Config{URL: url, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		t.Fatal(err)
	}
	// These tests are about syncing: a daemon that is not there is enough.
	rt, err := docker.New(docker.Config{Host: "unix://" + filepath.Join(data, "no-docker.sock")})
	if err != nil {
		t.Fatal(err)
	}
	op, err := New(Config{SyncInterval: interval, WorkerImage: "unused", Instance: "sync-test", LogsDir: filepath.Join(data, "logs")}, syncer, store, rt)
	if err != nil {
		t.Fatal(err)
	}
	return op, store
}

func runOperator(t *testing.T, op *Operator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- op.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v on a clean stop", err)
		}
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRequestsAreCoalesced fires a burst of sync requests: they collapse into
// at most one sync in flight plus one follow-up, and the follow-up publishes
// the newest commit.
func TestRequestsAreCoalesced(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	remote.Commit("one", map[string]string{"hello/main.py": "print(1)\n"})
	op, store := newTestOperator(t, remote.Dir, 0)
	runOperator(t, op)
	waitUntil(t, "startup sync", func() bool { return op.SyncState().Last.Outcome != "" })

	newest := remote.Commit("two", map[string]string{"hello/main.py": "print(2)\n"})
	for range 10 {
		op.RequestSync(TriggerWebhook)
	}
	waitUntil(t, "newest commit live", func() bool {
		snap := op.Snapshot()
		return snap != nil && snap.Revision == newest
	})
	time.Sleep(200 * time.Millisecond) // let a stray extra sync show up, if any

	syncs, err := store.ListSyncs(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var burst int
	for _, s := range syncs {
		if s.Trigger == TriggerWebhook {
			burst++
		}
	}
	if burst < 1 || burst > 2 {
		t.Errorf("10 requests caused %d syncs, want 1 or 2", burst)
	}
}

// TestWebhookBurstSyncsOnce: deliveries that name the pushed commit, sent
// in a burst (and again after it is live), cost exactly one sync.
func TestWebhookBurstSyncsOnce(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	remote.Commit("one", map[string]string{"hello/main.py": "print(1)\n"})
	op, store := newTestOperator(t, remote.Dir, 0)
	runOperator(t, op)
	waitUntil(t, "startup sync", func() bool { return op.SyncState().Last.Outcome != "" })

	newest := remote.Commit("two", map[string]string{"hello/main.py": "print(2)\n"})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { op.RequestSyncTo(TriggerWebhook, newest) })
	}
	wg.Wait()
	waitUntil(t, "newest commit live", func() bool {
		snap := op.Snapshot()
		return snap != nil && snap.Revision == newest
	})
	for range 50 {
		op.RequestSyncTo(TriggerWebhook, newest) // redeliveries
	}
	time.Sleep(300 * time.Millisecond) // let a stray extra sync show up, if any
	syncs, err := store.ListSyncs(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var burst int
	for _, s := range syncs {
		if s.Trigger == TriggerWebhook {
			burst++
		}
	}
	if burst != 1 {
		t.Errorf("100 deliveries of one push caused %d syncs, want 1", burst)
	}
}

// TestSyncHistoryIsRecorded checks that every attempt, including a failed
// one, lands in the store with its outcome and error.
func TestSyncHistoryIsRecorded(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	sha := remote.Commit("one", map[string]string{"hello/main.py": "print(1)\n", "bad/main.py": "x\n", "bad/pipeline.json": "{"})
	op, store := newTestOperator(t, remote.Dir, 50*time.Millisecond)
	runOperator(t, op)
	ctx := context.Background()

	waitUntil(t, "an unchanged poll", func() bool {
		last, err := store.LastSync(ctx)
		return err == nil && last.Outcome == status.SyncUnchanged
	})
	syncs, err := store.ListSyncs(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	first := syncs[len(syncs)-1]
	if first.Trigger != TriggerStartup || first.Outcome != status.SyncUpdated || first.Revision != sha ||
		first.Pipelines != 2 || first.Problems == 0 || first.CommitMessage != "one" || first.FinishedAt.Before(first.StartedAt) {
		t.Errorf("startup sync recorded as %+v", first)
	}

	remote.Git("branch", "-m", "main", "renamed")
	waitUntil(t, "a failed poll", func() bool {
		last, err := store.LastSync(ctx)
		return err == nil && last.Outcome == status.SyncFailed
	})
	last, _ := store.LastSync(ctx)
	if last.Error == "" || last.Revision != sha {
		t.Errorf("failed sync recorded as %+v; want the error and the revision still live", last)
	}
	if st := op.SyncState(); st.Live == nil || st.Live.Revision != sha || st.LastSuccess.IsZero() {
		t.Errorf("sync state after failure = %+v", st)
	}
}
