package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// testLeases: a lease is taken when free, renewed by its holder, refused
// to others until it expires or is released, and each change of holder
// raises the term.
func testLeases(t *testing.T, s status.Store) {
	c := ctx(t)
	if _, err := s.GetLease(c, "leader"); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("GetLease before any = %v, want ErrNotFound", err)
	}
	if _, err := s.TryLease(c, "leader", "a", 0); !errors.Is(err, status.ErrInvalidArgument) {
		t.Errorf("TryLease with no ttl = %v, want ErrInvalidArgument", err)
	}
	const ttl = 400 * time.Millisecond
	a, err := s.TryLease(c, "leader", "a", ttl)
	must(t, err)
	if !a.Held("a") || a.Term != 1 || a.ExpiresAt.Sub(a.Now) != ttl || !a.AcquiredAt.Equal(a.Now) {
		t.Fatalf("first TryLease = %+v; want a holding term 1 for %s", a, ttl)
	}
	b, err := s.TryLease(c, "leader", "b", ttl)
	must(t, err)
	if b.Held("b") || !b.Held("a") || b.Term != 1 {
		t.Errorf("TryLease by b while a holds it = %+v; want a's lease", b)
	}
	time.Sleep(ttl / 4)
	renewed, err := s.TryLease(c, "leader", "a", ttl)
	must(t, err)
	if !renewed.Held("a") || renewed.Term != 1 || !renewed.ExpiresAt.After(a.ExpiresAt) || !renewed.AcquiredAt.Equal(a.AcquiredAt) {
		t.Errorf("renewal = %+v; want the same term, acquired at %v, expiring after %v", renewed, a.AcquiredAt, a.ExpiresAt)
	}
	// a stops renewing: b gets it once it expired, with a new term.
	time.Sleep(ttl + 50*time.Millisecond)
	b, err = s.TryLease(c, "leader", "b", ttl)
	must(t, err)
	if !b.Held("b") || b.Term != 2 {
		t.Fatalf("TryLease by b after a's expiry = %+v; want b, term 2", b)
	}
	if got, err := s.TryLease(c, "leader", "a", ttl); err != nil || got.Held("a") || got.Holder != "b" {
		t.Errorf("a back after losing it = %+v, %v; want b's lease", got, err)
	}
	// Releasing: a cannot release b's lease; b's release frees it at once.
	must(t, s.ReleaseLease(c, "leader", "a"))
	if got, err := s.GetLease(c, "leader"); err != nil || !got.Held("b") {
		t.Errorf("after a foreign release: %+v, %v; want b still holding", got, err)
	}
	must(t, s.ReleaseLease(c, "leader", "b"))
	if got, err := s.GetLease(c, "leader"); err != nil || got.Held("b") {
		t.Errorf("after b's release: %+v, %v; want nobody holding", got, err)
	}
	a, err = s.TryLease(c, "leader", "a", ttl)
	must(t, err)
	if !a.Held("a") || a.Term != 3 {
		t.Errorf("TryLease by a after the release = %+v; want a, term 3", a)
	}
	// Another name is another lease.
	if other, err := s.TryLease(c, "other", "b", ttl); err != nil || !other.Held("b") || other.Term != 1 {
		t.Errorf("another lease = %+v, %v", other, err)
	}
}

// leaseRace: replicas trying at once never both hold a term.
func leaseRace(t *testing.T, stores ...status.Store) {
	c := ctx(t)
	const rounds = 20
	for round := range rounds {
		name := fmt.Sprintf("race-%d", round)
		var mu sync.Mutex
		holders := map[string]bool{}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				holder := fmt.Sprintf("r%d", w)
				l, err := stores[w%len(stores)].TryLease(c, name, holder, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if l.Held(holder) {
					mu.Lock()
					holders[holder] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(holders) != 1 {
			t.Fatalf("round %d: holders %v; want exactly one", round, holders)
		}
	}
}

func testLeaseRace(t *testing.T, s status.Store) { leaseRace(t, s) }

// testReplicas: heartbeats upsert a replica with the database's time;
// listing filters by last heartbeat; a removed replica is gone.
func testReplicas(t *testing.T, s status.Store) {
	c := ctx(t)
	if err := s.Heartbeat(c, status.Replica{}); !errors.Is(err, status.ErrInvalidArgument) {
		t.Errorf("Heartbeat without id = %v, want ErrInvalidArgument", err)
	}
	started := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	must(t, s.Heartbeat(c, status.Replica{ID: "b", Host: "node-2", Version: "1.0", StartedAt: started}))
	must(t, s.Heartbeat(c, status.Replica{ID: "a", Host: "node-1", Version: "1.0", StartedAt: started}))
	first, err := s.ListReplicas(c, time.Time{})
	must(t, err)
	if len(first) != 2 || first[0].ID != "a" || first[1].ID != "b" || first[0].Host != "node-1" || !first[0].StartedAt.Equal(started) || first[0].LastSeen.IsZero() {
		t.Fatalf("ListReplicas = %+v", first)
	}
	time.Sleep(20 * time.Millisecond)
	must(t, s.Heartbeat(c, status.Replica{ID: "a", Host: "node-1", Version: "1.1", StartedAt: started}))
	recent, err := s.ListReplicas(c, first[1].LastSeen.Add(time.Millisecond))
	must(t, err)
	if len(recent) != 1 || recent[0].ID != "a" || recent[0].Version != "1.1" || !recent[0].LastSeen.After(first[0].LastSeen) {
		t.Errorf("replicas seen since b's heartbeat = %+v; want a, newer", recent)
	}
	must(t, s.RemoveReplica(c, "a"))
	if all, err := s.ListReplicas(c, time.Time{}); err != nil || len(all) != 1 || all[0].ID != "b" {
		t.Errorf("after removing a: %+v, %v", all, err)
	}
}
