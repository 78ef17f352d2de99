package operator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	const lease = 900 * time.Millisecond
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
	if rs, err := first.ListReplicas(t.Context(), time.Time{}); err != nil || len(rs) != 1 || rs[0].ID != "a" {
		t.Errorf("replicas after b's clean stop = %+v, %v; want only a", rs, err)
	}
}

// TestReplicasOneLeader: two operators on one database elect one leader,
// and both list each other.
func TestReplicasOneLeader(t *testing.T) {
	t.Parallel()
	url := storetest.Postgres(t)
	files := map[string]string{"hello/main.py": "print('hi')\n"}
	a := newFakeEnvDB(t, files, url, func(c *Config) { c.Replica = ReplicaConfig{ID: "replica-a", Lease: time.Second} })
	b := newFakeEnvDB(t, files, url, func(c *Config) { c.Replica = ReplicaConfig{ID: "replica-b", Lease: time.Second} })
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
