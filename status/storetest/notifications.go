package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

func notification(run, target string) status.Notification {
	return status.Notification{RunID: run, Target: target, Format: "slack", Event: "failure"}
}

// testNotifications: enqueueing is idempotent per (run, target), claims
// take only due pending rows oldest first and hide them for the lease,
// attempts are recorded, and a run's notifications go with its row.
func testNotifications(t *testing.T, s status.Store) {
	c := ctx(t)
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	seed(t, s, endedRun("n1", "p", status.RunFailed), endedRun("n2", "p", status.RunSuccess))

	if err := s.EnqueueNotifications(c, []status.Notification{notification("missing", "HOOK")}); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("enqueue for a missing run = %v, want ErrNotFound", err)
	}
	if err := s.EnqueueNotifications(c, []status.Notification{{RunID: "n1", Target: "HOOK"}}); !errors.Is(err, status.ErrInvalidArgument) {
		t.Errorf("enqueue without event and format = %v, want ErrInvalidArgument", err)
	}
	later := notification("n2", "LATER")
	later.NextAttemptAt = now.Add(time.Hour)
	json := notification("n1", "HOOK")
	json.Format, json.SigningSecret, json.NextAttemptAt = "json", "HOOK_KEY", now.Add(-2*time.Minute)
	must(t, s.EnqueueNotifications(c, []status.Notification{json, later}))
	slack := notification("n1", "SLACK")
	slack.NextAttemptAt = now.Add(-time.Minute)
	// Enqueueing HOOK again (as a second recording of the run's end
	// would) changes nothing: the run is notified once per target.
	again := json
	again.Event, again.NextAttemptAt = "success", now.Add(-time.Hour)
	must(t, s.EnqueueNotifications(c, []status.Notification{again, slack}))

	got, err := s.ListNotifications(c, "n1")
	must(t, err)
	if len(got) != 2 || got[0].Target != "HOOK" || got[1].Target != "SLACK" {
		t.Fatalf("ListNotifications(n1) = %+v; want HOOK and SLACK", got)
	}
	if h := got[0]; h.Event != "failure" || h.Format != "json" || h.SigningSecret != "HOOK_KEY" || h.State != status.NotificationPending ||
		h.Attempts != 0 || !h.NextAttemptAt.Equal(now.Add(-2*time.Minute)) || h.CreatedAt.IsZero() || !h.DeliveredAt.IsZero() {
		t.Errorf("HOOK = %+v; want the first enqueue, pending", h)
	}
	if next, err := s.NextNotificationAt(c); err != nil || !next.Equal(now.Add(-2*time.Minute)) {
		t.Errorf("NextNotificationAt = %v, %v; want %v", next, err, now.Add(-2*time.Minute))
	}

	if _, err := s.ClaimNotifications(c, now, 0, 10); !errors.Is(err, status.ErrInvalidArgument) {
		t.Errorf("claim with no lease = %v, want ErrInvalidArgument", err)
	}
	claimed, err := s.ClaimNotifications(c, now, 30*time.Second, 1)
	must(t, err)
	if len(claimed) != 1 || claimed[0].Target != "HOOK" || !claimed[0].NextAttemptAt.Equal(now.Add(30*time.Second)) {
		t.Fatalf("first claim = %+v; want HOOK, leased until now+30s", claimed)
	}
	claimed, err = s.ClaimNotifications(c, now, 30*time.Second, 10)
	must(t, err)
	if len(claimed) != 1 || claimed[0].Target != "SLACK" {
		t.Fatalf("second claim = %+v; want only SLACK (HOOK is leased, LATER not due)", claimed)
	}
	if claimed, err = s.ClaimNotifications(c, now, 30*time.Second, 10); err != nil || len(claimed) != 0 {
		t.Errorf("third claim = %+v, %v; want nothing", claimed, err)
	}
	// After the lease a claim that was never recorded comes back.
	claimed, err = s.ClaimNotifications(c, now.Add(31*time.Second), 30*time.Second, 10)
	must(t, err)
	if len(claimed) != 2 {
		t.Fatalf("claim after the lease = %+v; want HOOK and SLACK again", claimed)
	}

	h := claimed[0]
	h.State, h.Attempts, h.LastError, h.DeliveredAt = status.NotificationDelivered, 1, "", now.Add(32*time.Second)
	must(t, s.RecordNotificationAttempt(c, h))
	sl := claimed[1]
	sl.State, sl.Attempts, sl.LastError, sl.NextAttemptAt = status.NotificationPending, 1, "HTTP 502 Bad Gateway", now.Add(2*time.Minute)
	must(t, s.RecordNotificationAttempt(c, sl))
	if err := s.RecordNotificationAttempt(c, status.Notification{ID: 1 << 40, State: status.NotificationFailed}); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("record on a missing notification = %v, want ErrNotFound", err)
	}
	if err := s.RecordNotificationAttempt(c, status.Notification{ID: h.ID, State: "sent"}); !errors.Is(err, status.ErrInvalidArgument) {
		t.Errorf("record with an unknown state = %v, want ErrInvalidArgument", err)
	}
	got, err = s.ListNotifications(c, "n1")
	must(t, err)
	if got[0].State != status.NotificationDelivered || got[0].Attempts != 1 || !got[0].DeliveredAt.Equal(now.Add(32*time.Second)) {
		t.Errorf("HOOK after delivery = %+v", got[0])
	}
	if got[1].State != status.NotificationPending || got[1].LastError != "HTTP 502 Bad Gateway" || !got[1].NextAttemptAt.Equal(now.Add(2*time.Minute)) {
		t.Errorf("SLACK after a failed attempt = %+v", got[1])
	}
	if next, err := s.NextNotificationAt(c); err != nil || !next.Equal(now.Add(2*time.Minute)) {
		t.Errorf("NextNotificationAt = %v, %v; want SLACK's retry at %v", next, err, now.Add(2*time.Minute))
	}

	n, err := s.DeleteRuns(c, []string{"n1"})
	must(t, err)
	if n != 1 {
		t.Fatalf("DeleteRuns = %d, want 1", n)
	}
	if got, err := s.ListNotifications(c, "n1"); err != nil || len(got) != 0 {
		t.Errorf("notifications of a deleted run = %+v, %v; want none", got, err)
	}
	if got, err := s.ListNotifications(c, "n2"); err != nil || len(got) != 1 {
		t.Errorf("notifications of n2 = %+v, %v; want LATER", got, err)
	}
}

// notificationClaimRace: callers claiming at once, on one store or on
// stores sharing a database, never get the same notification twice.
func notificationClaimRace(t *testing.T, stores ...status.Store) {
	c := ctx(t)
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	seed(t, stores[0], endedRun("race", "p", status.RunFailed))
	var ns []status.Notification
	for i := range 40 {
		n := notification("race", fmt.Sprintf("T%02d", i))
		n.NextAttemptAt = now.Add(-time.Duration(i) * time.Second)
		ns = append(ns, n)
	}
	must(t, stores[0].EnqueueNotifications(c, ns))
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for {
				claimed, err := stores[w%len(stores)].ClaimNotifications(c, now, time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				mu.Lock()
				for _, n := range claimed {
					got = append(got, n.Target)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	if len(got) != 40 || len(slices.Compact(slices.Clone(got))) != 40 {
		t.Errorf("claimed %d notifications (%d distinct); want each of 40 once", len(got), len(slices.Compact(slices.Clone(got))))
	}
}

func testNotificationClaimRace(t *testing.T, s status.Store) { notificationClaimRace(t, s) }
