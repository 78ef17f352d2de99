package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fastflow-dev/fastflow/status"
)

// admitNow() is the decision time of the admission tests. Seeded runs are
// queued before it, so they are "ahead" of a run admitted at admitNow()
// unless a test says otherwise.
func admitNow() time.Time { return time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC) }

// The kinds of run the admission tests seed, by what they mean for a slot.
func runningRun(id, pipeline string) status.Run {
	return status.Run{ID: id, Pipeline: pipeline, Status: status.RunRunning, QueuedAt: admitNow().Add(-time.Hour)}
}

// startingRun is PENDING and admitted: it holds a slot.
func startingRun(id, pipeline string) status.Run {
	return status.Run{ID: id, Pipeline: pipeline, Status: status.RunPending, Admitted: true, QueuedAt: admitNow().Add(-time.Hour)}
}

// queuedRun is PENDING, not admitted, queued at admitNow()+at.
func queuedRun(id, pipeline string, at time.Duration, notBefore time.Time) status.Run {
	return status.Run{ID: id, Pipeline: pipeline, Status: status.RunPending, QueuedAt: admitNow().Add(at), NotBefore: notBefore}
}

func endedRun(id, pipeline string, st status.RunStatus) status.Run {
	return status.Run{ID: id, Pipeline: pipeline, Status: st, QueuedAt: admitNow().Add(-2 * time.Hour)}
}

func seed(t *testing.T, s status.Store, runs ...status.Run) {
	t.Helper()
	for _, r := range runs {
		_, err := s.CreateRun(ctx(t), r)
		must(t, err)
	}
}

// freshCase gives a case of an admission table test a store that is, for
// admission, empty: every active run is ended, so it holds no slot and
// waits in no queue. Ending runs is far cheaper than a new database per
// case. The case's seeded runs take IDs with the returned prefix, so they
// never meet an earlier case's.
func freshCase(t *testing.T, s status.Store, i int, runs []status.Run) (prefix string) {
	t.Helper()
	c := ctx(t)
	page, err := s.ListRuns(c, status.RunFilter{Statuses: []status.RunStatus{status.RunPending, status.RunRunning}, Limit: 1000})
	must(t, err)
	for _, r := range page.Runs {
		r.Status = status.RunCancelled
		_, err := s.TransitionRun(c, r, status.RunPending, status.RunRunning)
		must(t, err)
	}
	prefix = fmt.Sprintf("case%02d-", i)
	for _, r := range runs {
		r.ID = prefix + r.ID
		seed(t, s, r)
	}
	return prefix
}

// allRuns returns every stored run, oldest first.
func allRuns(t *testing.T, s status.Store) []status.Run {
	t.Helper()
	page, err := s.ListRuns(ctx(t), status.RunFilter{Order: status.OrderAsc, Limit: 1000})
	must(t, err)
	return page.Runs
}

// slotHolders returns the IDs of the runs that hold a slot, sorted.
func slotHolders(t *testing.T, s status.Store) []string {
	t.Helper()
	var out []string
	for _, r := range allRuns(t, s) {
		if r.Status == status.RunRunning || (r.Status == status.RunPending && r.Admitted) {
			out = append(out, r.ID)
		}
	}
	slices.Sort(out)
	return out
}

func testAdmitRun(t *testing.T, s status.Store) {
	future, past := admitNow().Add(time.Hour), admitNow().Add(-time.Hour)
	tests := []struct {
		name     string
		existing []status.Run
		// run has Pipeline "p" and QueuedAt admitNow() unless set; Pipeline
		// "-" stands for an empty one.
		run     status.Run
		adm     status.Admission
		want    status.AdmitResult
		wantErr error
	}{
		{name: "free slot starts the run",
			adm: status.Admission{Limit: 1}, want: status.AdmitStarted},
		{name: "runs of every pipeline fill the slots: limit error",
			existing: []status.Run{runningRun("a1", "a"), startingRun("b1", "b")},
			adm:      status.Admission{Limit: 2}, wantErr: status.ErrLimit},
		{name: "no free slot with Queue queues the run",
			existing: []status.Run{runningRun("a1", "a"), startingRun("b1", "b")},
			adm:      status.Admission{Limit: 2, Queue: true}, want: status.AdmitQueued},
		{name: "ended runs hold no slot",
			existing: []status.Run{endedRun("e1", "p", status.RunSuccess), endedRun("e2", "p", status.RunFailed),
				endedRun("e3", "p", status.RunCancelled), endedRun("e4", "p", status.RunInterrupted)},
			adm: status.Admission{Limit: 1}, want: status.AdmitStarted},
		{name: "queued runs hold no slot and one waiting for its time is not ahead",
			existing: []status.Run{queuedRun("q1", "p", -time.Minute, future), queuedRun("q2", "a", -time.Minute, future)},
			adm:      status.Admission{Limit: 1}, want: status.AdmitStarted},
		{name: "eligible queued run ahead is not jumped: queued",
			existing: []status.Run{queuedRun("q1", "a", -time.Minute, time.Time{})},
			adm:      status.Admission{Limit: 5, Queue: true}, want: status.AdmitQueued},
		{name: "eligible queued run ahead without Queue: limit error",
			existing: []status.Run{queuedRun("q1", "a", -time.Minute, past)},
			adm:      status.Admission{Limit: 5}, wantErr: status.ErrLimit},
		{name: "queued run whose time came is ahead",
			existing: []status.Run{queuedRun("q1", "a", -time.Minute, admitNow())},
			adm:      status.Admission{Limit: 5, Queue: true}, want: status.AdmitQueued},
		{name: "queued run behind the new one does not hold it back",
			existing: []status.Run{queuedRun("q1", "a", time.Minute, time.Time{})},
			adm:      status.Admission{Limit: 5}, want: status.AdmitStarted},
		{name: "NotBefore in the future queues the run although a slot is free",
			run: status.Run{NotBefore: future},
			adm: status.Admission{Limit: 5, Queue: true}, want: status.AdmitQueued},
		{name: "NotBefore in the future without Queue: limit error",
			run: status.Run{NotBefore: future},
			adm: status.Admission{Limit: 5}, wantErr: status.ErrLimit},
		{name: "NotBefore equal to now starts the run",
			run: status.Run{NotBefore: admitNow()},
			adm: status.Admission{Limit: 5}, want: status.AdmitStarted},
		{name: "Forbid with a running run of the pipeline skips",
			existing: []status.Run{runningRun("p1", "p")},
			adm:      status.Admission{Limit: 5, ForbidActive: true}, want: status.AdmitSkipped},
		{name: "Forbid with a queued run of the pipeline skips",
			existing: []status.Run{queuedRun("p1", "p", -time.Minute, future)},
			adm:      status.Admission{Limit: 5, Queue: true, ForbidActive: true}, want: status.AdmitSkipped},
		{name: "Forbid skips before the limit is looked at",
			existing: []status.Run{runningRun("p1", "p")},
			adm:      status.Admission{Limit: 1, ForbidActive: true}, want: status.AdmitSkipped},
		{name: "Forbid ignores other pipelines and ended runs",
			existing: []status.Run{runningRun("a1", "a"), endedRun("p1", "p", status.RunFailed)},
			adm:      status.Admission{Limit: 5, ForbidActive: true}, want: status.AdmitStarted},
		{name: "Admitted from the caller is ignored",
			existing: []status.Run{runningRun("a1", "a")},
			run:      status.Run{Admitted: true},
			adm:      status.Admission{Limit: 1, Queue: true}, want: status.AdmitQueued},
		{name: "zero limit is invalid",
			adm: status.Admission{Limit: 0, Queue: true}, wantErr: status.ErrInvalidArgument},
		{name: "negative limit is invalid",
			adm: status.Admission{Limit: -1}, wantErr: status.ErrInvalidArgument},
		{name: "status other than PENDING is invalid",
			run: status.Run{Status: status.RunRunning},
			adm: status.Admission{Limit: 1}, wantErr: status.ErrInvalidArgument},
		{name: "empty pipeline is invalid",
			run: status.Run{Pipeline: "-"},
			adm: status.Admission{Limit: 1}, wantErr: status.ErrInvalidArgument},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx(t)
			freshCase(t, s, i, tt.existing)
			before := allRuns(t, s)

			r := tt.run
			switch r.Pipeline {
			case "":
				r.Pipeline = "p"
			case "-":
				r.Pipeline = ""
			}
			if r.QueuedAt.IsZero() {
				r.QueuedAt = admitNow()
			}
			r.Trigger, r.RequestEnv = status.TriggerManual, map[string]string{"K": "v"}
			adm := tt.adm
			adm.Now = admitNow()

			got, res, err := s.AdmitRun(c, r, adm)
			if tt.wantErr != nil {
				wantErr(t, "AdmitRun", err, tt.wantErr)
				diff(t, "runs after a refused AdmitRun", before, allRuns(t, s))
				return
			}
			must(t, err)
			if res != tt.want {
				t.Fatalf("AdmitRun = %v, want %v", res, tt.want)
			}
			if res == status.AdmitSkipped {
				diff(t, "run of a skipped fire", status.Run{}, got)
				diff(t, "runs after a skip", before, allRuns(t, s))
				return
			}
			want := stored(r)
			want.ID, want.Status, want.Attempt = got.ID, status.RunPending, 1
			want.Admitted = res == status.AdmitStarted
			diff(t, "admitted run", want, got)
			read, err := s.GetRun(c, got.ID)
			must(t, err)
			diff(t, "GetRun of the admitted run", got, read)
			if n := len(allRuns(t, s)); n != len(before)+1 {
				t.Errorf("%d runs stored, want %d", n, len(before)+1)
			}
		})
	}
}

// testAdmitDefaults: AdmitRun fills a run as CreateRun does.
func testAdmitDefaults(t *testing.T, s status.Store) {
	c := ctx(t)
	before := time.Now()
	got, res, err := s.AdmitRun(c, status.Run{Pipeline: "hello"}, status.Admission{Limit: 1})
	after := time.Now()
	must(t, err)
	if res != status.AdmitStarted || got.ID == "" || got.Status != status.RunPending || got.Attempt != 1 || !got.Admitted {
		t.Errorf("AdmitRun = %+v, %v; want a started PENDING run with ID and attempt 1", got, res)
	}
	between(t, "QueuedAt", got.QueuedAt, before, after)
	// A zero Now is the store's clock: the slot is taken now.
	_, _, err = s.AdmitRun(c, status.Run{Pipeline: "hello"}, status.Admission{Limit: 1})
	wantErr(t, "AdmitRun with the one slot taken", err, status.ErrLimit)
}

// testAdmitFire: the fire is claimed with the decision, never without it.
func testAdmitFire(t *testing.T, s status.Store) {
	c := ctx(t)
	fire := func(key string) *status.Fire {
		return &status.Fire{Key: "p/0:@hourly/" + key, Pipeline: "p", FireAt: admitNow()}
	}
	steps := []struct {
		name    string
		prepare func() error
		fire    *status.Fire
		adm     status.Admission
		want    status.AdmitResult
		wantErr error
	}{
		{name: "a new fire starts its run", fire: fire("a"),
			adm: status.Admission{Limit: 2}, want: status.AdmitStarted},
		{name: "the same fire again is a conflict", fire: fire("a"),
			adm: status.Admission{Limit: 2}, wantErr: status.ErrConflict},
		{name: "a fire RecordFire claimed is a conflict",
			prepare: func() error { return s.RecordFire(c, *fire("b")) }, fire: fire("b"),
			adm: status.Admission{Limit: 2}, wantErr: status.ErrConflict},
		{name: "a conflict wins over Forbid", fire: fire("a"),
			adm: status.Admission{Limit: 2, ForbidActive: true}, wantErr: status.ErrConflict},
		{name: "a skipped fire is claimed", fire: fire("c"),
			adm: status.Admission{Limit: 2, ForbidActive: true}, want: status.AdmitSkipped},
		{name: "so it cannot run later", fire: fire("c"),
			adm: status.Admission{Limit: 2}, wantErr: status.ErrConflict},
		{name: "a fire refused for the limit is not claimed",
			prepare: func() error { _, err := s.CreateRun(c, runningRun("r1", "other")); return err },
			fire:    fire("d"), adm: status.Admission{Limit: 2}, wantErr: status.ErrLimit},
		{name: "so it can be queued later", fire: fire("d"),
			adm: status.Admission{Limit: 2, Queue: true}, want: status.AdmitQueued},
		{name: "a fire without key is invalid", fire: &status.Fire{Pipeline: "p", FireAt: admitNow()},
			adm: status.Admission{Limit: 5}, wantErr: status.ErrInvalidArgument},
	}
	for _, st := range steps {
		if st.prepare != nil {
			must(t, st.prepare())
		}
		before := allRuns(t, s)
		st.adm.Fire, st.adm.Now = st.fire, admitNow()
		got, res, err := s.AdmitRun(c, status.Run{Pipeline: "p", QueuedAt: admitNow()}, st.adm)
		if st.wantErr != nil {
			wantErr(t, st.name, err, st.wantErr)
			diff(t, st.name+": runs", before, allRuns(t, s))
			continue
		}
		if err != nil || res != st.want {
			t.Errorf("%s: AdmitRun = %v, %v; want %v", st.name, res, err, st.want)
			continue
		}
		if res != status.AdmitSkipped && got.ID == "" {
			t.Errorf("%s: no run ID", st.name)
		}
	}
	wantErr(t, "RecordFire of a fire AdmitRun claimed", s.RecordFire(c, *fire("a")), status.ErrConflict)
	wantErr(t, "RecordFire of a skipped fire", s.RecordFire(c, *fire("c")), status.ErrConflict)
}

// admitHammer has 50 goroutines spread over stores admit a run each with
// five slots and no queue: exactly five start, the rest hit the limit.
func admitHammer(t *testing.T, stores ...status.Store) {
	const goroutines, limit = 50, 5
	c := ctx(t)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		started []string
		limited int
		errs    []error
	)
	for i := range goroutines {
		s := stores[i%len(stores)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, res, err := s.AdmitRun(c, status.Run{Pipeline: fmt.Sprintf("p%d", i%7)},
				status.Admission{Limit: limit, Now: time.Now()})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, status.ErrLimit):
				limited++
			case err != nil:
				errs = append(errs, err)
			case res != status.AdmitStarted:
				errs = append(errs, fmt.Errorf("AdmitRun = %v, want started or a limit error", res))
			default:
				started = append(started, r.ID)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("AdmitRun: %v", err)
	}
	if len(started) != limit || limited != goroutines-limit {
		t.Errorf("%d started, %d limited; want %d and %d", len(started), limited, limit, goroutines-limit)
	}
	slices.Sort(started)
	for _, s := range stores {
		diff(t, "slot holders", started, slotHolders(t, s))
		if n := len(allRuns(t, s)); n != len(started) {
			t.Errorf("%d runs stored, want only the %d started", n, len(started))
		}
	}
}

func testAdmitHammer(t *testing.T, s status.Store) { admitHammer(t, s) }

func testClaimQueued(t *testing.T, s status.Store) {
	future, past := admitNow().Add(time.Hour), admitNow().Add(-time.Hour)
	tests := []struct {
		name     string
		existing []status.Run
		limit    int
		want     []string
		wantErr  error
	}{
		{name: "oldest first, ties by ID, up to the free slots",
			existing: []status.Run{runningRun("r1", "a"), queuedRun("q3", "a", -time.Minute, time.Time{}),
				queuedRun("q1", "b", -3*time.Minute, time.Time{}), queuedRun("q2b", "a", -2*time.Minute, time.Time{}),
				queuedRun("q2a", "c", -2*time.Minute, time.Time{})},
			limit: 3, want: []string{"q1", "q2a"}},
		{name: "more slots than queued runs claims them all",
			existing: []status.Run{queuedRun("q2", "a", -time.Minute, time.Time{}), queuedRun("q1", "a", -2*time.Minute, time.Time{})},
			limit:    10, want: []string{"q1", "q2"}},
		{name: "no free slot claims nothing",
			existing: []status.Run{runningRun("r1", "a"), startingRun("s1", "b"), queuedRun("q1", "a", -time.Minute, time.Time{})},
			limit:    2},
		{name: "more slot holders than the limit claims nothing",
			existing: []status.Run{runningRun("r1", "a"), runningRun("r2", "b"), queuedRun("q1", "a", -time.Minute, time.Time{})},
			limit:    1},
		{name: "a run waiting for its time is passed over",
			existing: []status.Run{queuedRun("q1", "a", -3*time.Minute, future), queuedRun("q2", "a", -2*time.Minute, time.Time{})},
			limit:    1, want: []string{"q2"}},
		{name: "a run whose time came, or has passed, is claimed",
			existing: []status.Run{queuedRun("q1", "a", -3*time.Minute, admitNow()), queuedRun("q2", "a", -2*time.Minute, past)},
			limit:    5, want: []string{"q1", "q2"}},
		{name: "admitted and ended runs are not claimed",
			existing: []status.Run{startingRun("s1", "a"), endedRun("e1", "a", status.RunCancelled), queuedRun("q1", "a", -time.Minute, time.Time{})},
			limit:    5, want: []string{"q1"}},
		{name: "an empty queue claims nothing", limit: 5},
		{name: "zero limit is invalid", limit: 0, wantErr: status.ErrInvalidArgument},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx(t)
			prefix := freshCase(t, s, i, tt.existing)
			before := allRuns(t, s)
			got, err := s.ClaimQueued(c, tt.limit, admitNow())
			if tt.wantErr != nil {
				wantErr(t, "ClaimQueued", err, tt.wantErr)
				diff(t, "runs after a refused ClaimQueued", before, allRuns(t, s))
				return
			}
			must(t, err)
			var want []string
			for _, id := range tt.want {
				want = append(want, prefix+id)
			}
			diff(t, "claimed", want, ids(got), cmpopts.EquateEmpty())
			for _, r := range got {
				if !r.Admitted || r.Status != status.RunPending {
					t.Errorf("claimed run %s: status %s, admitted %v; want PENDING and admitted", r.ID, r.Status, r.Admitted)
				}
				read, err := s.GetRun(c, r.ID)
				must(t, err)
				diff(t, "GetRun of claimed run", r, read)
			}
			// Nothing but the claimed runs changed.
			for i, r := range before {
				if slices.Contains(want, r.ID) {
					before[i].Admitted = true
				}
			}
			diff(t, "runs after ClaimQueued", before, allRuns(t, s))
		})
	}
}

// testNotBefore follows a retry waiting out its delay: queued by AdmitRun
// with a slot free, invisible to ClaimQueued until its time, then claimed.
func testNotBefore(t *testing.T, s status.Store) {
	c := ctx(t)
	notBefore := admitNow().Add(30 * time.Second)
	r, res, err := s.AdmitRun(c, status.Run{Pipeline: "p", Trigger: status.TriggerRetry, NotBefore: notBefore},
		status.Admission{Limit: 3, Queue: true, Now: admitNow()})
	must(t, err)
	if res != status.AdmitQueued || r.Admitted {
		t.Fatalf("AdmitRun = %v, admitted %v; want queued", res, r.Admitted)
	}
	n, next, err := s.QueueState(c, admitNow())
	must(t, err)
	if n != 1 || !next.Equal(notBefore) {
		t.Errorf("QueueState = %d, %v; want 1, %v", n, next, notBefore)
	}
	for _, now := range []time.Time{admitNow(), notBefore.Add(-time.Microsecond)} {
		got, err := s.ClaimQueued(c, 3, now)
		must(t, err)
		if len(got) != 0 {
			t.Errorf("ClaimQueued at %v claimed %v before its time", now, ids(got))
		}
	}
	got, err := s.ClaimQueued(c, 3, notBefore)
	must(t, err)
	diff(t, "claimed at NotBefore", []string{r.ID}, ids(got))
	n, next, err = s.QueueState(c, notBefore)
	must(t, err)
	if n != 0 || !next.IsZero() {
		t.Errorf("QueueState after the claim = %d, %v; want 0, zero", n, next)
	}
}

func testQueueState(t *testing.T, s status.Store) {
	c := ctx(t)
	n, next, err := s.QueueState(c, admitNow())
	must(t, err)
	if n != 0 || !next.IsZero() {
		t.Errorf("QueueState of an empty store = %d, %v; want 0, zero", n, next)
	}
	in := func(d time.Duration) time.Time { return admitNow().Add(d) }
	seed(t, s, queuedRun("q1", "a", -4*time.Minute, time.Time{}), queuedRun("q2", "a", -3*time.Minute, in(2*time.Hour)),
		queuedRun("q3", "b", -2*time.Minute, in(time.Hour)), queuedRun("q4", "b", -time.Minute, in(-time.Hour)),
		runningRun("r1", "a"), startingRun("s1", "b"), endedRun("e1", "a", status.RunSuccess))
	tests := []struct {
		name     string
		now      time.Time
		wantNext time.Time
	}{
		{"earliest future NotBefore", admitNow(), in(time.Hour)},
		{"a NotBefore equal to now is not waiting", in(time.Hour), in(2 * time.Hour)},
		{"nothing waits for a time", in(3 * time.Hour), time.Time{}},
	}
	for _, tt := range tests {
		n, next, err := s.QueueState(c, tt.now)
		must(t, err)
		if n != 4 || !next.Equal(tt.wantNext) {
			t.Errorf("%s: QueueState = %d, %v; want 4, %v", tt.name, n, next, tt.wantNext)
		}
		inUTC(t, tt.name, next)
	}
}

// claimRace has goroutines spread over stores claim from one queue at once:
// together they claim exactly the free slots, never one run twice.
func claimRace(t *testing.T, stores ...status.Store) {
	const queued, limit, goroutines = 20, 5, 8
	c := ctx(t)
	for i := range queued {
		seed(t, stores[0], queuedRun(fmt.Sprintf("q%02d", i), "p", time.Duration(i-queued)*time.Minute, time.Time{}))
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed []string
	)
	for i := range goroutines {
		s := stores[i%len(stores)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimQueued(c, limit, admitNow())
			if err != nil {
				t.Errorf("ClaimQueued: %v", err)
				return
			}
			mu.Lock()
			claimed = append(claimed, ids(got)...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(claimed)
	// The oldest five: claims hold the queue order even when concurrent.
	diff(t, "claimed", []string{"q00", "q01", "q02", "q03", "q04"}, claimed)
	diff(t, "slot holders", claimed, slotHolders(t, stores[len(stores)-1]))
}

func testClaimRace(t *testing.T, s status.Store) { claimRace(t, s) }

func testCancelQueued(t *testing.T, s status.Store) {
	c := ctx(t)
	fin := time.Date(2026, 5, 4, 14, 0, 0, 123456789, berlin(t))
	tests := []struct {
		name      string
		existing  status.Run
		cancel    status.Run // ID from existing unless set
		want      bool
		wantErr   error
		wantCount status.Pipeline
	}{
		{name: "queued run is cancelled and counted",
			existing: queuedRun("", "", -time.Minute, time.Time{}),
			cancel:   status.Run{Status: status.RunCancelled, Message: "cancelled by admin", FinishedAt: fin},
			want:     true, wantCount: status.Pipeline{CancelledRuns: 1}},
		{name: "queued run interrupted at shutdown counts as interrupted",
			existing: queuedRun("", "", -time.Minute, admitNow().Add(time.Hour)),
			cancel:   status.Run{Status: status.RunInterrupted, Message: "operator stopped", FinishedAt: fin},
			want:     true, wantCount: status.Pipeline{InterruptedRuns: 1}},
		{name: "queued run failed (pipeline gone) counts as failed",
			existing: queuedRun("", "", -time.Minute, time.Time{}),
			cancel:   status.Run{Status: status.RunFailed, Message: "pipeline removed", FinishedAt: fin},
			want:     true, wantCount: status.Pipeline{TotalRuns: 1, FailedRuns: 1}},
		{name: "zero FinishedAt is the store's now",
			existing: queuedRun("", "", -time.Minute, time.Time{}),
			cancel:   status.Run{Status: status.RunCancelled},
			want:     true, wantCount: status.Pipeline{CancelledRuns: 1}},
		{name: "admitted pending run is not cancelled",
			existing: startingRun("", ""),
			cancel:   status.Run{Status: status.RunCancelled, FinishedAt: fin}},
		{name: "running run is not cancelled",
			existing: runningRun("", ""),
			cancel:   status.Run{Status: status.RunCancelled, FinishedAt: fin}},
		{name: "ended run is not cancelled",
			existing: endedRun("", "", status.RunSuccess),
			cancel:   status.Run{Status: status.RunCancelled, FinishedAt: fin}},
		{name: "missing run is not found",
			cancel:  status.Run{ID: "no-such-run", Status: status.RunCancelled},
			wantErr: status.ErrNotFound},
		{name: "non-final status is invalid",
			existing: queuedRun("", "", -time.Minute, time.Time{}),
			cancel:   status.Run{Status: status.RunRunning}, wantErr: status.ErrInvalidArgument},
		{name: "run without ID is invalid",
			cancel: status.Run{Status: status.RunCancelled}, wantErr: status.ErrInvalidArgument},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pipeline := fmt.Sprintf("cancel-%d", i)
			r := tt.cancel
			var before status.Run
			if tt.existing.Status != "" {
				tt.existing.ID, tt.existing.Pipeline = fmt.Sprintf("run-%d", i), pipeline
				var err error
				before, err = s.CreateRun(c, tt.existing)
				must(t, err)
				if r.ID == "" {
					r.ID = before.ID
				}
			}
			t0 := time.Now()
			got, err := s.CancelQueued(c, r)
			t1 := time.Now()
			if tt.wantErr != nil {
				wantErr(t, "CancelQueued", err, tt.wantErr)
			} else {
				must(t, err)
			}
			if got != tt.want {
				t.Errorf("CancelQueued = %v, want %v", got, tt.want)
			}
			if before.ID != "" {
				after, err := s.GetRun(c, before.ID)
				must(t, err)
				want := before
				if tt.want {
					want.Status, want.Message, want.FinishedAt = r.Status, r.Message, norm(r.FinishedAt)
					if r.FinishedAt.IsZero() {
						between(t, "FinishedAt", after.FinishedAt, t0, t1)
						want.FinishedAt = after.FinishedAt
					}
				}
				diff(t, "run after CancelQueued", want, after)
			}
			stats, err := s.GetPipelineStats(c, pipeline)
			if tt.wantCount == (status.Pipeline{}) {
				wantErr(t, "counters of a run not cancelled", err, status.ErrNotFound)
				return
			}
			must(t, err)
			tt.wantCount.Name = pipeline
			diff(t, "counters", tt.wantCount, stats)
		})
	}
}

// testCancelVsClaim races CancelQueued against ClaimQueued for one queued
// run, many times: exactly one of them gets it, and the run's state and
// the counters say which.
func testCancelVsClaim(t *testing.T, s status.Store) {
	c := ctx(t)
	const rounds = 20
	cancels := 0
	for i := range rounds {
		id := fmt.Sprintf("race-%02d", i)
		seed(t, s, queuedRun(id, "p", time.Duration(i)*time.Second, time.Time{}))
		var (
			wg        sync.WaitGroup
			cancelled bool
			claimed   []status.Run
			errs      [2]error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			cancelled, errs[0] = s.CancelQueued(c, status.Run{ID: id, Status: status.RunCancelled})
		}()
		go func() {
			defer wg.Done()
			claimed, errs[1] = s.ClaimQueued(c, rounds+1, admitNow().Add(time.Hour))
		}()
		wg.Wait()
		must(t, errors.Join(errs[:]...))
		won := slices.ContainsFunc(claimed, func(r status.Run) bool { return r.ID == id })
		if cancelled == won {
			t.Fatalf("round %d: cancelled %v, claimed %v; want exactly one", i, cancelled, won)
		}
		got, err := s.GetRun(c, id)
		must(t, err)
		if cancelled {
			cancels++
			if got.Status != status.RunCancelled || got.Admitted {
				t.Errorf("round %d: cancelled run is %s, admitted %v", i, got.Status, got.Admitted)
			}
		} else if got.Status != status.RunPending || !got.Admitted {
			t.Errorf("round %d: claimed run is %s, admitted %v", i, got.Status, got.Admitted)
		}
	}
	stats, err := s.GetPipelineStats(c, "p")
	if cancels == 0 {
		wantErr(t, "counters without a cancel", err, status.ErrNotFound)
		return
	}
	must(t, err)
	diff(t, "counters", status.Pipeline{Name: "p", CancelledRuns: int64(cancels)}, stats)
}

func testFinishRun(t *testing.T, s status.Store) {
	c := ctx(t)
	fin := admitNow().Add(time.Minute)
	active := []status.RunStatus{status.RunPending, status.RunRunning}
	tests := []struct {
		name      string
		existing  status.Run
		finish    status.Run // ID from existing
		from      []status.RunStatus
		want      bool
		wantErr   error
		wantCount status.Pipeline
	}{
		{name: "running to success is counted",
			existing: runningRun("", ""), finish: status.Run{Status: status.RunSuccess, FinishedAt: fin, ExitCode: intp(0)},
			from: active, want: true, wantCount: status.Pipeline{TotalRuns: 1, SuccessfulRuns: 1}},
		{name: "running to timeout counts as failed",
			existing: runningRun("", ""), finish: status.Run{Status: status.RunTimeout, FinishedAt: fin},
			from: active, want: true, wantCount: status.Pipeline{TotalRuns: 1, FailedRuns: 1}},
		{name: "starting run cancelled is counted as cancelled",
			existing: startingRun("", ""), finish: status.Run{Status: status.RunCancelled, FinishedAt: fin},
			from: active, want: true, wantCount: status.Pipeline{CancelledRuns: 1}},
		{name: "counted under the stored pipeline, not the one given",
			existing: runningRun("", ""), finish: status.Run{Pipeline: "elsewhere", Status: status.RunInterrupted},
			from: active, want: true, wantCount: status.Pipeline{InterruptedRuns: 1}},
		{name: "ended run is neither changed nor counted",
			existing: endedRun("", "", status.RunSuccess), finish: status.Run{Status: status.RunFailed},
			from: active},
		{name: "run in another status than from is not counted",
			existing: runningRun("", ""), finish: status.Run{Status: status.RunFailed},
			from: []status.RunStatus{status.RunPending}},
		{name: "non-final status is invalid",
			existing: runningRun("", ""), finish: status.Run{Status: status.RunPending},
			from: active, wantErr: status.ErrInvalidArgument},
		{name: "no source status is invalid",
			existing: runningRun("", ""), finish: status.Run{Status: status.RunFailed},
			wantErr: status.ErrInvalidArgument},
		{name: "missing run is not found",
			finish: status.Run{ID: "no-such-run", Status: status.RunFailed},
			from:   active, wantErr: status.ErrNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pipeline := fmt.Sprintf("finish-%d", i)
			r := tt.finish
			var before status.Run
			if tt.existing.Status != "" {
				tt.existing.ID, tt.existing.Pipeline = fmt.Sprintf("run-%d", i), pipeline
				var err error
				before, err = s.CreateRun(c, tt.existing)
				must(t, err)
				// r is the caller's copy of the run with its end filled in.
				next := before
				next.Status, next.FinishedAt, next.ExitCode = r.Status, r.FinishedAt, r.ExitCode
				if r.Pipeline != "" {
					next.Pipeline = r.Pipeline
				}
				r = next
			}
			got, err := s.FinishRun(c, r, tt.from...)
			if tt.wantErr != nil {
				wantErr(t, "FinishRun", err, tt.wantErr)
			} else {
				must(t, err)
			}
			if got != tt.want {
				t.Errorf("FinishRun = %v, want %v", got, tt.want)
			}
			if before.ID != "" {
				after, err := s.GetRun(c, before.ID)
				must(t, err)
				want := before
				if tt.want {
					want = stored(r)
					want.Pipeline = before.Pipeline
				}
				diff(t, "run after FinishRun", want, after)
			}
			stats, err := s.GetPipelineStats(c, pipeline)
			if tt.wantCount == (status.Pipeline{}) {
				wantErr(t, "counters of a run not finished", err, status.ErrNotFound)
				return
			}
			must(t, err)
			tt.wantCount.Name = pipeline
			diff(t, "counters", tt.wantCount, stats)
		})
	}
}

// finishRace has 20 goroutines spread over stores end one running run,
// each with another final status: one wins, and only its end is counted.
func finishRace(t *testing.T, stores ...status.Store) {
	const goroutines = 20
	c := ctx(t)
	run, err := stores[0].CreateRun(c, runningRun("", "race"))
	must(t, err)
	finals := []status.RunStatus{status.RunSuccess, status.RunFailed, status.RunCancelled, status.RunTimeout, status.RunInterrupted}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []status.RunStatus
	)
	for i := range goroutines {
		s := stores[i%len(stores)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := run
			r.Status, r.FinishedAt = finals[i%len(finals)], time.Now()
			ok, err := s.FinishRun(c, r, status.RunPending, status.RunRunning)
			if err != nil {
				t.Errorf("FinishRun: %v", err)
				return
			}
			if ok {
				mu.Lock()
				wins = append(wins, r.Status)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("FinishRun won %d times (%v), want once", len(wins), wins)
	}
	got, err := stores[len(stores)-1].GetRun(c, run.ID)
	must(t, err)
	if got.Status != wins[0] {
		t.Errorf("stored status %s, want the winner's %s", got.Status, wins[0])
	}
	stats, err := stores[len(stores)-1].GetPipelineStats(c, "race")
	must(t, err)
	want := counts(wins[0])
	want.Name = "race"
	diff(t, "counters", want, stats)
}

func testFinishRace(t *testing.T, s status.Store) { finishRace(t, s) }
