package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// retentionRuns stores, for pipeline p, n finished runs one hour apart from
// base with files, and returns their IDs oldest first.
func retentionRuns(t *testing.T, s status.Store, p string, base time.Time, n int) []string {
	t.Helper()
	c := ctx(t)
	var out []string
	for i := range n {
		id := fmt.Sprintf("%s-%02d", p, i)
		_, err := s.CreateRun(c, status.Run{ID: id, Pipeline: p, Status: status.RunSuccess,
			QueuedAt: base.Add(time.Duration(i) * time.Hour), LogPath: "/logs/" + id + ".log",
			MetricsPath: "/logs/" + id + ".metrics.jsonl"})
		must(t, err)
		out = append(out, id)
	}
	return out
}

func dueIDs(t *testing.T, s status.Store, q status.RetentionQuery) []string {
	t.Helper()
	runs, err := s.RunsDue(ctx(t), q)
	must(t, err)
	return ids(runs)
}

// testRetentionKeepRuns: beyond the newest KeepRuns runs, oldest first,
// in batches of Limit, one pipeline at a time; active runs and the newest
// run are never due.
func testRetentionKeepRuns(t *testing.T, s status.Store) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := retentionRuns(t, s, "a", base, 6)
	retentionRuns(t, s, "b", base, 6)
	c := ctx(t)
	_, err := s.CreateRun(c, status.Run{ID: "a-old-running", Pipeline: "a", Status: status.RunRunning,
		QueuedAt: base.Add(-time.Hour), LogPath: "/logs/x.log"})
	must(t, err)
	// Seven runs of a: keeping three leaves the four oldest but the running one.
	diff(t, "due keeping 3", a[:3], dueIDs(t, s, status.RetentionQuery{Pipeline: "a", KeepRuns: 3}))
	diff(t, "due keeping 3, limit 2", a[:2], dueIDs(t, s, status.RetentionQuery{Pipeline: "a", KeepRuns: 3, Limit: 2}))
	diff(t, "due keeping 100", []string{}, dueIDs(t, s, status.RetentionQuery{Pipeline: "a", KeepRuns: 100}))
	diff(t, "no rule", []string{}, dueIDs(t, s, status.RetentionQuery{Pipeline: "a"}))
	// By age: everything before the cut, except that the newest run
	// always stays.
	diff(t, "due before hour 2", a[:2], dueIDs(t, s, status.RetentionQuery{Pipeline: "a", Before: base.Add(2 * time.Hour)}))
	diff(t, "due before the end", a[:5], dueIDs(t, s, status.RetentionQuery{Pipeline: "a", Before: base.Add(100 * time.Hour)}))
	// Either rule makes a run due.
	diff(t, "keep 5 or before hour 3", a[:3], dueIDs(t, s, status.RetentionQuery{Pipeline: "a", KeepRuns: 5, Before: base.Add(3 * time.Hour)}))
	_, err = s.RunsDue(c, status.RetentionQuery{KeepRuns: 1})
	wantErr(t, "RunsDue without pipeline", err, status.ErrInvalidArgument)
}

// testRetentionMark: marked runs keep their rows without paths, are no
// longer due for their files but still for their rows, and an active run
// is never marked.
func testRetentionMark(t *testing.T, s status.Store) {
	c := ctx(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := retentionRuns(t, s, "a", base, 4)
	_, err := s.CreateRun(c, status.Run{ID: "a-running", Pipeline: "a", Status: status.RunRunning,
		QueuedAt: base.Add(-time.Hour), LogPath: "/logs/x.log"})
	must(t, err)
	when := time.Date(2025, 2, 1, 3, 0, 0, 0, time.UTC)
	n, err := s.MarkLogsRemoved(c, []string{a[0], a[1], "a-running", "missing"}, when, "LOG_RETENTION_RUNS")
	must(t, err)
	if n != 2 {
		t.Errorf("MarkLogsRemoved marked %d, want 2", n)
	}
	r, err := s.GetRun(c, a[0])
	must(t, err)
	if r.LogPath != "" || r.MetricsPath != "" || !r.LogRemovedAt.Equal(when) || r.LogRemovedReason != "LOG_RETENTION_RUNS" || !r.LogRemoved() {
		t.Errorf("marked run = paths %q %q, removed %v %q; want no paths, removed at %v by LOG_RETENTION_RUNS",
			r.LogPath, r.MetricsPath, r.LogRemovedAt, r.LogRemovedReason, when)
	}
	inUTC(t, "LogRemovedAt", r.LogRemovedAt)
	r, err = s.GetRun(c, "a-running")
	must(t, err)
	if r.LogRemoved() || r.LogPath == "" {
		t.Errorf("running run was marked: %+v", r)
	}
	q := status.RetentionQuery{Pipeline: "a", KeepRuns: 1}
	diff(t, "files due after marking", a[2:3], dueIDs(t, s, q))
	q.Rows = true
	diff(t, "rows due after marking", a[:3], dueIDs(t, s, q))
	// UpdateRun leaves the marks alone; CreateRun ignores them.
	r, err = s.GetRun(c, a[0])
	must(t, err)
	r.Message = "edited"
	r.LogRemovedAt, r.LogRemovedReason = time.Time{}, ""
	must(t, s.UpdateRun(c, r))
	r, err = s.GetRun(c, a[0])
	must(t, err)
	if !r.LogRemoved() || r.Message != "edited" {
		t.Errorf("after UpdateRun: removed %v, message %q; want the mark kept", r.LogRemovedAt, r.Message)
	}
	created, err := s.CreateRun(c, status.Run{ID: "fresh", Pipeline: "a", Status: status.RunSuccess, LogRemovedAt: when, LogRemovedReason: "x"})
	must(t, err)
	if created.LogRemoved() || created.LogRemovedReason != "" {
		t.Errorf("CreateRun kept a removal mark: %+v", created)
	}
	if n, err := s.MarkLogsRemoved(c, nil, when, "x"); err != nil || n != 0 {
		t.Errorf("MarkLogsRemoved(nil) = %d, %v", n, err)
	}
}

// testRetentionRetryChain: a run whose retry is not due stays, so only a
// chain's oldest runs are ever due.
func testRetentionRetryChain(t *testing.T, s status.Store) {
	c := ctx(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, retryOf string, hour int, st status.RunStatus) {
		t.Helper()
		_, err := s.CreateRun(c, status.Run{ID: id, Pipeline: "p", Status: st, RetryOf: retryOf,
			QueuedAt: base.Add(time.Duration(hour) * time.Hour), LogPath: "/logs/" + id})
		must(t, err)
	}
	mk("solo", "", 0, status.RunSuccess)
	mk("chain-1", "", 1, status.RunFailed)
	mk("chain-2", "chain-1", 2, status.RunFailed)
	mk("chain-3", "chain-2", 5, status.RunFailed)
	mk("waiting-1", "", 3, status.RunFailed)
	mk("waiting-2", "waiting-1", 4, status.RunPending)
	mk("last", "", 6, status.RunSuccess)
	// Before hour 3: solo, chain-1 and chain-2 are old enough, but chain-2
	// is retried by chain-3, which is not, so chain-2 stays, and with it
	// the chain stays whole from chain-2 on; chain-1 may go.
	q := status.RetentionQuery{Pipeline: "p", Before: base.Add(3 * time.Hour)}
	diff(t, "due before hour 3", []string{"solo", "chain-1"}, dueIDs(t, s, q))
	// Before hour 5: waiting-1 is retried by a pending run and stays.
	q.Before = base.Add(5 * time.Hour)
	diff(t, "due before hour 5", []string{"solo", "chain-1"}, dueIDs(t, s, q))
	// Before hour 6 the whole chain is due; the retry queue still holds waiting-1.
	q.Before = base.Add(6 * time.Hour)
	diff(t, "due before hour 6", []string{"solo", "chain-1", "chain-2", "chain-3"}, dueIDs(t, s, q))
}

// testRetentionAcrossPipelines: with no pipeline named, the age rule
// selects the due runs of every pipeline, oldest first across them, with
// each pipeline's newest run, active runs and the middle of a retry chain
// kept as for one pipeline; a count rule needs a pipeline.
func testRetentionAcrossPipelines(t *testing.T, s status.Store) {
	c := ctx(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// a: hours 0, 1, 2 (a-02 newest); b: hours 0.5, 1.5 (b-01 newest).
	a := retentionRuns(t, s, "a", base, 3)
	b := retentionRuns(t, s, "b", base.Add(30*time.Minute), 2)
	_, err := s.CreateRun(c, status.Run{ID: "b-running", Pipeline: "b", Status: status.RunRunning, QueuedAt: base.Add(-time.Hour)})
	must(t, err)
	// c-0 is retried by c-1, queued after the cut, so c-0 stays too.
	_, err = s.CreateRun(c, status.Run{ID: "c-0", Pipeline: "c", Status: status.RunFailed, QueuedAt: base})
	must(t, err)
	_, err = s.CreateRun(c, status.Run{ID: "c-1", Pipeline: "c", Status: status.RunSuccess, RetryOf: "c-0", QueuedAt: base.Add(10 * time.Hour)})
	must(t, err)
	q := status.RetentionQuery{Before: base.Add(5 * time.Hour), Rows: true}
	diff(t, "rows due across pipelines", []string{a[0], b[0], a[1]}, dueIDs(t, s, q))
	q.Limit = 2
	diff(t, "rows due across pipelines, limit 2", []string{a[0], b[0]}, dueIDs(t, s, q))
	q = status.RetentionQuery{Before: base.Add(time.Hour)}
	diff(t, "files due across pipelines before hour 1", []string{a[0], b[0]}, dueIDs(t, s, q))
	_, err = s.RunsDue(c, status.RetentionQuery{KeepRuns: 1, Before: base, Rows: true})
	wantErr(t, "KeepRuns across pipelines", err, status.ErrInvalidArgument)
}

// testRetentionDelete: rows go with the schedule fires that started them;
// active runs never go; old fire and delivery records go in batches.
func testRetentionDelete(t *testing.T, s status.Store) {
	c := ctx(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := retentionRuns(t, s, "a", base, 3)
	_, err := s.CreateRun(c, status.Run{ID: "a-running", Pipeline: "a", Status: status.RunRunning, QueuedAt: base})
	must(t, err)
	_, err = s.CreateRun(c, status.Run{ID: "a-retry", Pipeline: "a", Status: status.RunSuccess, RetryOf: a[0], QueuedAt: base.Add(10 * time.Hour)})
	must(t, err)
	must(t, s.RecordFire(c, status.Fire{Key: "fire-a0", Pipeline: "a", FireAt: base, RunID: a[0]}))
	must(t, s.RecordFire(c, status.Fire{Key: "fire-a2", Pipeline: "a", FireAt: base, RunID: a[2]}))
	must(t, s.RecordFire(c, status.Fire{Key: "fire-skipped", Pipeline: "a", FireAt: base}))
	must(t, s.RecordDelivery(c, status.Delivery{ID: "d1", Event: "push", ReceivedAt: base}))
	must(t, s.RecordDelivery(c, status.Delivery{ID: "d2", Event: "push", ReceivedAt: base}))

	n, err := s.DeleteRuns(c, []string{a[0], a[1], "a-running", "missing"})
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteRuns deleted %d, want 2", n)
	}
	page, err := s.ListRuns(c, status.RunFilter{Pipeline: "a", Order: status.OrderAsc})
	must(t, err)
	diff(t, "runs left", []string{"a-running", a[2], "a-retry"}, ids(page.Runs))
	r, err := s.GetRun(c, "a-retry")
	must(t, err)
	if r.RetryOf != "" {
		t.Errorf("RetryOf = %q after its original was deleted, want empty", r.RetryOf)
	}
	// fire-a0 went with its run: the key can be claimed again; fire-a2 stays.
	must(t, s.RecordFire(c, status.Fire{Key: "fire-a0", Pipeline: "a", FireAt: base}))
	wantErr(t, "fire of a kept run", s.RecordFire(c, status.Fire{Key: "fire-a2", Pipeline: "a", FireAt: base}), status.ErrConflict)

	// Records created before a time in the future: the fires without a
	// stored run (fire-a0 again, fire-skipped) and both deliveries, one
	// of each kind per batch of 1.
	future := time.Now().Add(time.Hour)
	n, err = s.DeleteRecordsBefore(c, future, 1)
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteRecordsBefore(limit 1) = %d, want 2", n)
	}
	n, err = s.DeleteRecordsBefore(c, future, 10)
	must(t, err)
	if n != 2 {
		t.Errorf("second DeleteRecordsBefore = %d, want 2", n)
	}
	must(t, s.RecordDelivery(c, status.Delivery{ID: "d1", Event: "push", ReceivedAt: base}))
	must(t, s.RecordFire(c, status.Fire{Key: "fire-skipped", Pipeline: "a", FireAt: base}))
	wantErr(t, "fire of a kept run after the sweep", s.RecordFire(c, status.Fire{Key: "fire-a2", Pipeline: "a", FireAt: base}), status.ErrConflict)
	if n, err := s.DeleteRuns(c, nil); err != nil || n != 0 {
		t.Errorf("DeleteRuns(nil) = %d, %v", n, err)
	}
}
