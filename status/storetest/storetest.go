package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
)

// OpenFunc returns a fresh, empty, migrated store for one test and arranges
// for it to be closed when that test ends.
type OpenFunc func(t *testing.T) status.Store

// Run runs the conformance suite against the stores open returns. Each
// subtest gets its own store and runs in parallel with the others.
func Run(t *testing.T, open OpenFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s status.Store)
	}{
		{"Ping", testPing},
		{"Syncs", testSyncs},
		{"RunRoundTrip", testRunRoundTrip},
		{"RunDefaults", testRunDefaults},
		{"RunUpdate", testRunUpdate},
		{"RunTransition", testRunTransition},
		{"RunTransitionRace", testRunTransitionRace},
		{"RunningIsAdmitted", testRunningIsAdmitted},
		{"ListRunsPaging", testListRunsPaging},
		{"ListRunsFilters", testListRunsFilters},
		{"ListRunsRetryOf", testListRunsRetryOf},
		{"ListRunsInvalid", testListRunsInvalid},
		{"ActiveRevisions", testActiveRevisions},
		{"DeleteRunsBefore", testDeleteRunsBefore},
		{"RetentionKeepRuns", testRetentionKeepRuns},
		{"RetentionMark", testRetentionMark},
		{"RetentionRetryChain", testRetentionRetryChain},
		{"RetentionAcrossPipelines", testRetentionAcrossPipelines},
		{"RetentionDelete", testRetentionDelete},
		{"AdmitRun", testAdmitRun},
		{"AdmitDefaults", testAdmitDefaults},
		{"AdmitFire", testAdmitFire},
		{"AdmitHammer", testAdmitHammer},
		{"ClaimQueued", testClaimQueued},
		{"NotBefore", testNotBefore},
		{"QueueState", testQueueState},
		{"ClaimRace", testClaimRace},
		{"CancelQueued", testCancelQueued},
		{"CancelVsClaim", testCancelVsClaim},
		{"FinishRun", testFinishRun},
		{"FinishRace", testFinishRace},
		{"Pipelines", testPipelines},
		{"CounterStatuses", testCounterStatuses},
		{"CounterHammer", testCounterHammer},
		{"Schedules", testSchedules},
		{"Secrets", testSecrets},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"APITokens", testAPITokens},
		{"Deliveries", testDeliveries},
		{"Notifications", testNotifications},
		{"NotificationClaimRace", testNotificationClaimRace},
		{"Leases", testLeases},
		{"LeaseRace", testLeaseRace},
		{"Replicas", testReplicas},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// ReplicasFunc returns two stores on one fresh, empty, migrated database,
// as two operator replicas (or, for SQLite, two processes on one data
// directory) would open it, and closes both when the test ends.
type ReplicasFunc func(t *testing.T) (status.Store, status.Store)

// RunReplicas proves that the admission decisions hold across stores
// sharing a database, not only across goroutines sharing a store: each
// race of the suite is run with its goroutines split over the two.
func RunReplicas(t *testing.T, open ReplicasFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, stores ...status.Store)
	}{
		{"AdmitHammer", admitHammer},
		{"ClaimRace", claimRace},
		{"FinishRace", finishRace},
		{"NotificationClaimRace", notificationClaimRace},
		{"LeaseRace", leaseRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

// ctx returns a context that ends with the test, with a bound so a hung
// database fails the test instead of the whole binary.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// berlin is a non-UTC zone with a DST rule, so a store that kept the
// location or the offset would be caught.
func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// inUTC fails unless every given time is zero or in UTC.
func inUTC(t *testing.T, what string, ts ...time.Time) {
	t.Helper()
	for i, ts := range ts {
		if !ts.IsZero() && ts.Location() != time.UTC {
			t.Errorf("%s: time %d is in %v, want UTC", what, i, ts.Location())
		}
	}
}

// between fails unless got lies in [lo, hi] at microsecond precision.
func between(t *testing.T, what string, got, lo, hi time.Time) {
	t.Helper()
	lo, hi = lo.Truncate(time.Microsecond), hi.Add(time.Microsecond)
	if got.Before(lo) || got.After(hi) {
		t.Errorf("%s = %v, want within [%v, %v]", what, got, lo, hi)
	}
}

// norm is what a store must return for a time it was given.
func norm(ts time.Time) time.Time {
	if ts.IsZero() {
		return time.Time{}
	}
	return ts.UTC().Truncate(time.Microsecond)
}

func testPing(t *testing.T, s status.Store) {
	must(t, s.Ping(ctx(t)))
}
