package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

// cutStore is a LeaseStore whose every call fails while cut is set: the
// replica's database connection is gone.
type cutStore struct {
	status.Store
	cut atomic.Bool
}

var errCut = errors.New("connection cut")

func (s *cutStore) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (status.Lease, error) {
	if s.cut.Load() {
		return status.Lease{}, errCut
	}
	return s.Store.TryLease(ctx, name, holder, ttl)
}

func (s *cutStore) Heartbeat(ctx context.Context, r status.Replica) error {
	if s.cut.Load() {
		return errCut
	}
	return s.Store.Heartbeat(ctx, r)
}

// dutyLog records when each replica's leader duties ran.
type dutyLog struct {
	mu      sync.Mutex
	active  map[string]bool
	overlap bool
	starts  map[string][]time.Time
	stops   map[string][]time.Time
}

func (d *dutyLog) duties(id string) func(ctx context.Context) {
	return func(ctx context.Context) {
		d.mu.Lock()
		for other, on := range d.active {
			if on && other != id {
				d.overlap = true
			}
		}
		d.active[id] = true
		d.starts[id] = append(d.starts[id], time.Now())
		d.mu.Unlock()
		<-ctx.Done()
		d.mu.Lock()
		d.active[id] = false
		d.stops[id] = append(d.stops[id], time.Now())
		d.mu.Unlock()
	}
}

func (d *dutyLog) count(id string) (starts, stops int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.starts[id]), len(d.stops[id])
}

// TestElectorHandOver: two replicas on one PostgreSQL. One leads; when its
// connection is cut it steps down before its lease runs out and the other
// takes over after the lease; back online it follows; a clean stop hands
// the lease over at once. The duties of two replicas never overlap.
func TestElectorHandOver(t *testing.T) {
	t.Parallel()
	url := storetest.Postgres(t)
	open := func() status.Store {
		s, err := sqlstore.Open(t.Context(), sqlstore.Config{DatabaseURL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	first := open()
	if err := first.(*sqlstore.Store).Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	const lease = 1500 * time.Millisecond
	d := &dutyLog{active: map[string]bool{}, starts: map[string][]time.Time{}, stops: map[string][]time.Time{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	storeA := &cutStore{Store: first}
	a := newElector(storeA, ReplicaConfig{ID: "a", Lease: lease, Host: "host-a"}, log)
	b := newElector(open(), ReplicaConfig{ID: "b", Lease: lease, Host: "host-b"}, log)
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.run(ctxA, d.duties("a")) })
	waitUntil(t, "a to lead", func() bool { return a.snapshot().Leader })
	wg.Go(func() { b.run(ctxB, d.duties("b")) })
	defer func() { stopA(); stopB(); wg.Wait() }()
	waitUntil(t, "b to see a as the leader", func() bool { s := b.snapshot(); return s.Holder == "a" && !s.Leader })
	if rs, err := first.ListReplicas(t.Context(), time.Time{}); err != nil || len(rs) != 2 || rs[0].Host != "host-a" {
		t.Errorf("replicas = %+v, %v; want a and b", rs, err)
	}
	term := a.snapshot().Term

	cut := time.Now()
	storeA.cut.Store(true)
	waitUntil(t, "a to step down", func() bool { return !a.snapshot().Leader })
	steppedDown := time.Since(cut)
	waitUntil(t, "b to take over", func() bool { return b.snapshot().Leader })
	tookOver := time.Since(cut)
	t.Logf("connection cut: a stepped down after %s, b led after %s (lease %s)", steppedDown.Round(time.Millisecond), tookOver.Round(time.Millisecond), lease)
	if steppedDown >= lease {
		t.Errorf("a stepped down %s after losing its connection; want before its lease of %s ran out", steppedDown, lease)
	}
	if s := b.snapshot(); s.Term != term+1 || s.Holder != "b" {
		t.Errorf("b's lease: %+v; want term %d", s, term+1)
	}
	if a.snapshot().LastError == "" {
		t.Error("a records no error for its failed renewals")
	}

	storeA.cut.Store(false)
	waitUntil(t, "a to see b as the leader", func() bool { s := a.snapshot(); return s.Holder == "b" && s.LastError == "" })
	if a.snapshot().Leader {
		t.Error("a leads again while b holds the lease")
	}

	stopped := time.Now()
	stopB()
	waitUntil(t, "a to lead after b's clean stop", func() bool { return a.snapshot().Leader })
	if handover := time.Since(stopped); handover > lease {
		t.Errorf("a clean stop handed over after %s; want within a renewal (%s), not a whole lease", handover, lease/3)
	}
	d.mu.Lock()
	overlap := d.overlap
	d.mu.Unlock()
	if overlap {
		t.Error("two replicas ran the leader duties at once")
	}
	if starts, stops := d.count("a"); starts != 2 || stops != 1 {
		t.Errorf("a's duties started %d and stopped %d times; want 2 and 1", starts, stops)
	}
	if starts, stops := d.count("b"); starts != 1 || stops != 1 {
		t.Errorf("b's duties started %d and stopped %d times; want 1 and 1", starts, stops)
	}
}

// TestReplicasOneLeader: two operators on one database elect one leader,
// and both list each other.
func TestReplicasOneLeader(t *testing.T) {
	t.Parallel()
	url := storetest.Postgres(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{"hello/main.py": "print('hi')\n"})
	a := newFakeEnvDB(t, remote, url, func(c *Config) { c.Replica = ReplicaConfig{ID: "replica-a", Lease: time.Second} })
	b := newFakeEnvDB(t, remote, url, func(c *Config) { c.Replica = ReplicaConfig{ID: "replica-b", Lease: time.Second} })
	waitUntil(t, "one leader", func() bool {
		la, lb := a.op.Leadership(), b.op.Leadership()
		return la.Leader != lb.Leader && la.Holder == lb.Holder && la.Holder != ""
	})
	rs, err := a.op.Replicas(t.Context())
	if err != nil || len(rs) != 2 || rs[0].ID != "replica-a" || rs[1].ID != "replica-b" {
		t.Errorf("Replicas = %+v, %v", rs, err)
	}
	leader, follower := a, b
	if b.op.Leadership().Leader {
		leader, follower = b, a
	}
	leader.stop()
	waitUntil(t, "the follower to lead", func() bool { return follower.op.Leadership().Leader })
}

// TestDeadReplicaRunsSettled: a replica stops (detaching its run) and does
// not come back: after REPLICA_GRACE the leader ends its run INTERRUPTED,
// naming the replica, and the retry runs on the leader. Before the grace
// is over the run stays the stopped replica's.
func TestDeadReplicaRunsSettled(t *testing.T) {
	t.Parallel()
	url := storetest.Postgres(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{
		"job/main.py":       "print('work')\n",
		"job/pipeline.json": `{"retry_attempts": 1, "retry_delay": 0}`,
	})
	// Generous: on a loaded machine a heartbeat can miss its turn.
	const grace = 8 * time.Second
	replica := func(id string) func(*Config) {
		return func(c *Config) { c.Replica = ReplicaConfig{ID: id, Lease: 3 * time.Second, Grace: grace} }
	}
	a := newFakeEnvDB(t, remote, url, replica("replica-a"))
	waitUntil(t, "a to lead", func() bool { return a.op.Leadership().Leader })
	b := newFakeEnvDB(t, remote, url, replica("replica-b"))
	b.setProgram("job", fake.Program{fake.Print("working"), fake.Forever()})
	run := b.running(b.startRun(RunRequest{Pipeline: "job"}).ID)
	if run.Replica != "replica-b" {
		t.Fatalf("run's replica = %q, want replica-b", run.Replica)
	}
	stopped := time.Now()
	b.stop()

	time.Sleep(time.Second)
	if r, err := a.store.GetRun(t.Context(), run.ID); err != nil || r.Status != status.RunRunning {
		t.Fatalf("within the grace: %s, %v; want RUNNING, still replica-b's", r.Status, err)
	}
	var ended status.Run
	a.waitFor("the leader to end the stopped replica's run", 20*time.Second, func() bool {
		var err error
		ended, err = a.store.GetRun(t.Context(), run.ID)
		return err == nil && ended.Status.Final()
	})
	t.Logf("settled %s after the stop", time.Since(stopped).Round(time.Millisecond))
	if ended.Status != status.RunInterrupted || !strings.Contains(ended.Message, "replica replica-b") {
		t.Errorf("run = %s %q; want INTERRUPTED naming replica-b", ended.Status, ended.Message)
	}
	var retry status.Run
	a.advanceUntil("the retry to succeed on the leader", time.Second, time.Hour, func() bool {
		page, err := a.store.ListRuns(t.Context(), status.RunFilter{RetryOf: run.ID})
		if err != nil || len(page.Runs) != 1 {
			return false
		}
		retry = page.Runs[0]
		return retry.Status == status.RunSuccess
	})
	if retry.Replica != "replica-a" || retry.Attempt != 2 {
		t.Errorf("retry = replica %q, attempt %d; want replica-a, 2", retry.Replica, retry.Attempt)
	}
}

// TestWebhookSyncsEveryReplica: a webhook's sync request on one replica is
// signalled through PostgreSQL to the others, which sync at once (neither
// polls here), recorded with the trigger "replica".
func TestWebhookSyncsEveryReplica(t *testing.T) {
	t.Parallel()
	url := storetest.Postgres(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{"hello/main.py": "print('hi')\n"})
	a := newFakeEnvDB(t, remote, url, func(c *Config) { c.Replica = ReplicaConfig{ID: "replica-a"} })
	b := newFakeEnvDB(t, remote, url, func(c *Config) { c.Replica = ReplicaConfig{ID: "replica-b"} })
	for _, e := range []*fakeEnv{a, b} {
		e.waitFor("the first sync", 20*time.Second, func() bool { return e.op.SyncState().Live != nil })
	}
	// The listeners connect in the background: repeat the request (as
	// GitHub's deliveries of one push would) until b has the commit.
	sha := remote.Commit("second", map[string]string{"world/main.py": "print('w')\n"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.op.RequestSyncTo(TriggerWebhook, sha)
		if live := b.op.SyncState().Live; live != nil && live.Revision == sha {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b did not sync to %s within 20 s of replica a's webhook", sha)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if tr := b.op.SyncState().Last.Trigger; tr != TriggerReplica {
		t.Errorf("b's sync trigger = %q, want %q", tr, TriggerReplica)
	}
}

// BenchmarkReplicasIdleQueries: three idle replicas on one PostgreSQL
// database, the leader's scheduler holding a pipeline with an hourly
// schedule, for 20 s. It prints the store calls a second per replica (the
// queries the operator asks for, against the target of one) and the
// database's own count of transactions (pg_stat_database.xact_commit),
// which also counts what the driver does on its own.
func BenchmarkReplicasIdleQueries(b *testing.B) {
	url := storetest.Postgres(b)
	remote := gittest.New(b)
	remote.Commit("pipelines", map[string]string{
		"hourly/main.py":       "print('hi')\n",
		"hourly/pipeline.json": `{"schedule": "0 * * * *"}`,
	})
	const replicas = 3
	calls := &callCount{}
	wrap := func(s status.Store) status.Store { return &countingStore{Store: s, n: calls} }
	for i := range replicas {
		e := newFakeEnvOn(b, remote, url, map[string]fake.Program{}, wrap, func(c *Config) {
			c.Replica = ReplicaConfig{ID: fmt.Sprintf("replica-%d", i)}
		})
		deadline := time.Now().Add(20 * time.Second)
		for e.op.SyncState().Live == nil {
			if time.Now().After(deadline) {
				b.Fatal("no first sync")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	conn, err := pgx.Connect(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(b.Context())
	commits := func() int64 {
		var n int64
		if err := conn.QueryRow(b.Context(), `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	const window = 20 * time.Second
	for b.Loop() {
		time.Sleep(2 * time.Second) // settle: first syncs and claims done
		calls.reset()
		before, callsBefore := commits(), calls.total.Load()
		time.Sleep(window)
		called := calls.total.Load() - callsBefore
		// The statistics collector reports with a delay of its own.
		time.Sleep(time.Second)
		after := commits()
		perSecond := float64(called) / window.Seconds() / replicas
		txPerSecond := float64(after-before-2) / window.Seconds() / replicas
		b.ReportMetric(perSecond, "calls/s/replica")
		b.ReportMetric(txPerSecond, "tx/s/replica")
		b.Logf("%d idle replicas: %.2f store calls a second each (target <= 1, ratio %.2f): %s; the database counted %.2f transactions a second each",
			replicas, perSecond, perSecond, calls.String(), txPerSecond)
	}
}

// callCount counts store calls by method.
type callCount struct {
	total  atomic.Int64
	mu     sync.Mutex
	byName map[string]int
}

func (c *callCount) add(name string) {
	c.total.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = map[string]int{}
	}
	c.byName[name]++
}

// reset forgets the calls by method (the total keeps counting).
func (c *callCount) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byName = nil
}

func (c *callCount) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.byName)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, c.byName[k]))
	}
	return strings.Join(parts, ", ")
}

// countingStore counts the calls of the store methods an idle operator
// makes (the loops of the lease, the scheduler, the dispatcher, the
// notifier and the look at the replicas); the others pass uncounted.
type countingStore struct {
	status.Store
	n *callCount
}

func (s *countingStore) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (status.Lease, error) {
	s.n.add("TryLease")
	return s.Store.TryLease(ctx, name, holder, ttl)
}

func (s *countingStore) Heartbeat(ctx context.Context, r status.Replica) error {
	s.n.add("Heartbeat")
	return s.Store.Heartbeat(ctx, r)
}

func (s *countingStore) GetLease(ctx context.Context, name string) (status.Lease, error) {
	s.n.add("GetLease")
	return s.Store.GetLease(ctx, name)
}

func (s *countingStore) ListReplicas(ctx context.Context, since time.Time) ([]status.Replica, error) {
	s.n.add("ListReplicas")
	return s.Store.ListReplicas(ctx, since)
}

func (s *countingStore) ListRuns(ctx context.Context, f status.RunFilter) (status.RunPage, error) {
	s.n.add("ListRuns")
	return s.Store.ListRuns(ctx, f)
}

func (s *countingStore) ClaimQueued(ctx context.Context, limit int, now time.Time) ([]status.Run, error) {
	s.n.add("ClaimQueued")
	return s.Store.ClaimQueued(ctx, limit, now)
}

func (s *countingStore) QueueState(ctx context.Context, now time.Time) (int, time.Time, error) {
	s.n.add("QueueState")
	return s.Store.QueueState(ctx, now)
}

func (s *countingStore) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]status.Notification, error) {
	s.n.add("ClaimNotifications")
	return s.Store.ClaimNotifications(ctx, now, lease, limit)
}

func (s *countingStore) NextNotificationAt(ctx context.Context) (time.Time, error) {
	s.n.add("NextNotificationAt")
	return s.Store.NextNotificationAt(ctx)
}

func (s *countingStore) PutScheduleState(ctx context.Context, st status.ScheduleState) error {
	s.n.add("PutScheduleState")
	return s.Store.PutScheduleState(ctx, st)
}

func (s *countingStore) ListScheduleStates(ctx context.Context, pipeline string) ([]status.ScheduleState, error) {
	s.n.add("ListScheduleStates")
	return s.Store.ListScheduleStates(ctx, pipeline)
}
