package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fastflow-dev/fastflow/status"
)

func intp(i int) *int { return &i }

// fullRun sets every field of a run to a non-zero value, with times in a
// non-UTC zone and below microsecond precision.
func fullRun(t *testing.T) status.Run {
	loc := berlin(t)
	q := time.Date(2026, 11, 27, 6, 0, 0, 123456789, loc)
	return status.Run{
		ID:                "0193f0c2-0000-7000-8000-000000000001",
		Pipeline:          "hello",
		Status:            status.RunFailed,
		ErrorType:         status.ErrorOOM,
		ExitCode:          intp(137),
		Message:           "killed: out of memory (limit 64 MiB)",
		Revision:          "3f2c0a1b",
		Trigger:           status.TriggerManual,
		TriggeredBy:       "admin",
		Attempt:           2,
		ContainerID:       "c0ffee",
		Parameters:        map[string]string{"DATE": "2026-11-27", "N": "5"},
		EnvNames:          []string{"LOG_LEVEL", "API_TOKEN"},
		QueuedAt:          q,
		StartedAt:         q.Add(time.Second + 7*time.Nanosecond),
		FinishedAt:        q.Add(9 * time.Second),
		UVVersion:         "uv 0.9.2",
		SetupDuration:     1400*time.Millisecond + 3*time.Nanosecond,
		PeakCPUPercent:    97.5,
		PeakRAMBytes:      67_003_187,
		SoftLimitExceeded: true,
		LogPath:           "/data/logs/hello/1.log",
		MetricsPath:       "/data/logs/hello/1.metrics.jsonl",
		Admitted:          true,
		NotBefore:         q.Add(500*time.Millisecond + 11*time.Nanosecond),
		RequestEnv:        map[string]string{"LOG_LEVEL": "debug", "EMPTY": ""},
		LogIncomplete:     true,
		Replica:           "replica-a",
	}
}

// stored is what the store must give back for r.
func stored(r status.Run) status.Run {
	r.QueuedAt, r.StartedAt, r.FinishedAt = norm(r.QueuedAt), norm(r.StartedAt), norm(r.FinishedAt)
	r.NotBefore = norm(r.NotBefore)
	r.SetupDuration = r.SetupDuration.Truncate(time.Microsecond)
	return r
}

func testRunRoundTrip(t *testing.T, s status.Store) {
	c := ctx(t)
	in := fullRun(t)
	got, err := s.CreateRun(c, in)
	must(t, err)
	want := stored(in)
	diff(t, "CreateRun result", want, got)

	read, err := s.GetRun(c, in.ID)
	must(t, err)
	diff(t, "GetRun", want, read)
	inUTC(t, "GetRun", read.QueuedAt, read.StartedAt, read.FinishedAt, read.NotBefore)
	page, err := s.ListRuns(c, status.RunFilter{})
	must(t, err)
	diff(t, "ListRuns", []status.Run{want}, page.Runs)

	// A retry points at its original; exit code 0 is not "no exit code".
	retry := status.Run{ID: "0193f0c2-0000-7000-8000-000000000002", Pipeline: "hello",
		Trigger: status.TriggerRetry, RetryOf: in.ID, Attempt: 3, ExitCode: intp(0),
		QueuedAt: in.QueuedAt.Add(time.Minute)}
	_, err = s.CreateRun(c, retry)
	must(t, err)
	read, err = s.GetRun(c, retry.ID)
	must(t, err)
	if read.RetryOf != in.ID || read.ExitCode == nil || *read.ExitCode != 0 {
		t.Errorf("retry run: RetryOf = %q, ExitCode = %v; want %q, 0", read.RetryOf, read.ExitCode, in.ID)
	}

	_, err = s.CreateRun(c, in)
	wantErr(t, "CreateRun duplicate id", err, status.ErrConflict)

	_, err = s.CreateRun(c, status.Run{Pipeline: "hello", RetryOf: "no-such-run"})
	wantErr(t, "CreateRun retry of unknown run", err, status.ErrNotFound)

	_, err = s.GetRun(c, "no-such-run")
	wantErr(t, "GetRun unknown", err, status.ErrNotFound)

	_, err = s.CreateRun(c, status.Run{})
	wantErr(t, "CreateRun without pipeline", err, status.ErrInvalidArgument)
	_, err = s.CreateRun(c, status.Run{Pipeline: "hello", Status: "BOGUS"})
	wantErr(t, "CreateRun bogus status", err, status.ErrInvalidArgument)
}

func testRunDefaults(t *testing.T, s status.Store) {
	c := ctx(t)
	before := time.Now()
	got, err := s.CreateRun(c, status.Run{Pipeline: "hello", Trigger: status.TriggerSchedule})
	after := time.Now()
	must(t, err)
	id, err := uuid.Parse(got.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("generated ID %q: want a UUIDv7 (parse error %v)", got.ID, err)
	}
	if got.Status != status.RunPending || got.Attempt != 1 {
		t.Errorf("defaults: Status = %q, Attempt = %d; want PENDING, 1", got.Status, got.Attempt)
	}
	between(t, "QueuedAt", got.QueuedAt, before, after)
	inUTC(t, "CreateRun", got.QueuedAt)
	read, err := s.GetRun(c, got.ID)
	must(t, err)
	diff(t, "GetRun after defaults", got, read)

	// Generated IDs sort by creation, which the cursor tie-break relies on.
	second, err := s.CreateRun(c, status.Run{Pipeline: "hello"})
	must(t, err)
	if second.ID <= got.ID {
		t.Errorf("second ID %q does not sort after first %q", second.ID, got.ID)
	}
}

func testRunUpdate(t *testing.T, s status.Store) {
	c := ctx(t)
	r, err := s.CreateRun(c, status.Run{Pipeline: "hello", Trigger: status.TriggerManual,
		TriggeredBy: "admin", Parameters: map[string]string{"A": "1"}})
	must(t, err)

	full := fullRun(t)
	upd := r
	upd.Status, upd.ErrorType, upd.ExitCode, upd.Message = full.Status, full.ErrorType, full.ExitCode, full.Message
	upd.Revision, upd.ContainerID, upd.EnvNames = full.Revision, full.ContainerID, full.EnvNames
	upd.StartedAt, upd.FinishedAt, upd.UVVersion = full.StartedAt, full.FinishedAt, full.UVVersion
	upd.SetupDuration, upd.PeakCPUPercent, upd.PeakRAMBytes = full.SetupDuration, full.PeakCPUPercent, full.PeakRAMBytes
	upd.SoftLimitExceeded, upd.LogPath, upd.MetricsPath = true, full.LogPath, full.MetricsPath
	upd.Admitted, upd.NotBefore, upd.RequestEnv, upd.LogIncomplete = true, full.NotBefore, full.RequestEnv, true
	upd.Replica = full.Replica // a replica adopting a run takes it over
	must(t, s.UpdateRun(c, upd))

	// Fields fixed at creation do not move, whatever the update says.
	sneaky := upd
	sneaky.Pipeline, sneaky.Trigger, sneaky.TriggeredBy, sneaky.Attempt = "other", status.TriggerRetry, "mallory", 9
	sneaky.Parameters, sneaky.QueuedAt = map[string]string{"B": "2"}, time.Unix(1, 0)
	must(t, s.UpdateRun(c, sneaky))

	got, err := s.GetRun(c, r.ID)
	must(t, err)
	diff(t, "GetRun after UpdateRun", stored(upd), got)

	// Clearing works too: nil exit code and zero times come back as such.
	cleared := got
	cleared.ExitCode, cleared.StartedAt, cleared.FinishedAt, cleared.EnvNames = nil, time.Time{}, time.Time{}, nil
	cleared.Admitted, cleared.NotBefore, cleared.RequestEnv, cleared.LogIncomplete = false, time.Time{}, nil, false
	must(t, s.UpdateRun(c, cleared))
	got, err = s.GetRun(c, r.ID)
	must(t, err)
	diff(t, "GetRun after clearing", cleared, got)

	wantErr(t, "UpdateRun unknown", s.UpdateRun(c, status.Run{ID: "no-such-run", Status: status.RunRunning}), status.ErrNotFound)
	wantErr(t, "UpdateRun bogus status", s.UpdateRun(c, status.Run{ID: r.ID, Status: "BOGUS"}), status.ErrInvalidArgument)
}

func testRunTransition(t *testing.T, s status.Store) {
	c := ctx(t)
	r, err := s.CreateRun(c, status.Run{Pipeline: "hello"})
	must(t, err)

	tests := []struct {
		name    string
		to      status.RunStatus
		from    []status.RunStatus
		changed bool
		want    status.RunStatus
	}{
		{"pending to running", status.RunRunning, []status.RunStatus{status.RunPending}, true, status.RunRunning},
		{"running again from pending is refused", status.RunRunning, []status.RunStatus{status.RunPending}, false, status.RunRunning},
		{"finish from pending or running", status.RunSuccess, []status.RunStatus{status.RunPending, status.RunRunning}, true, status.RunSuccess},
		{"cancel after finish is refused", status.RunCancelled, []status.RunStatus{status.RunPending, status.RunRunning}, false, status.RunSuccess},
	}
	for _, tt := range tests {
		next := r
		next.Status = tt.to
		changed, err := s.TransitionRun(c, next, tt.from...)
		must(t, err)
		got, err := s.GetRun(c, r.ID)
		must(t, err)
		if changed != tt.changed || got.Status != tt.want {
			t.Errorf("%s: changed = %v, status = %s; want %v, %s", tt.name, changed, got.Status, tt.changed, tt.want)
		}
	}
	_, err = s.TransitionRun(c, status.Run{ID: "no-such-run", Status: status.RunRunning}, status.RunPending)
	wantErr(t, "TransitionRun unknown", err, status.ErrNotFound)
	_, err = s.TransitionRun(c, status.Run{ID: r.ID, Status: status.RunRunning})
	wantErr(t, "TransitionRun without source", err, status.ErrInvalidArgument)
}

// testRunningIsAdmitted: however a run becomes RUNNING, it holds a slot,
// so the admission count can never miss a started run.
func testRunningIsAdmitted(t *testing.T, s status.Store) {
	c := ctx(t)
	tests := []struct {
		name  string
		write func(r status.Run) error
	}{
		{"CreateRun", func(r status.Run) error {
			_, err := s.CreateRun(c, r)
			return err
		}},
		{"UpdateRun", func(r status.Run) error {
			pending := r
			pending.Status = status.RunPending
			if _, err := s.CreateRun(c, pending); err != nil {
				return err
			}
			return s.UpdateRun(c, r)
		}},
		{"TransitionRun", func(r status.Run) error {
			pending := r
			pending.Status = status.RunPending
			if _, err := s.CreateRun(c, pending); err != nil {
				return err
			}
			_, err := s.TransitionRun(c, r, status.RunPending)
			return err
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := status.Run{ID: fmt.Sprintf("running-%d", i), Pipeline: "hello", Status: status.RunRunning}
			must(t, tt.write(r))
			got, err := s.GetRun(c, r.ID)
			must(t, err)
			if got.Status != status.RunRunning || !got.Admitted {
				t.Errorf("after %s: status %s, admitted %v; want RUNNING and admitted", tt.name, got.Status, got.Admitted)
			}
		})
	}
}

// testRunTransitionRace proves the guard is atomic: of many goroutines
// starting the same pending run, exactly one wins.
func testRunTransitionRace(t *testing.T, s status.Store) {
	c := ctx(t)
	r, err := s.CreateRun(c, status.Run{Pipeline: "hello"})
	must(t, err)
	const n = 16
	var wg sync.WaitGroup
	wins := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := r
			next.Status = status.RunRunning
			next.ContainerID = fmt.Sprintf("container-%d", i)
			ok, err := s.TransitionRun(c, next, status.RunPending)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins <- next.ContainerID
			}
		}()
	}
	wg.Wait()
	close(wins)
	close(errs)
	for err := range errs {
		t.Errorf("TransitionRun: %v", err)
	}
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("winners = %v, want exactly one", winners)
	}
	got, err := s.GetRun(c, r.ID)
	must(t, err)
	if got.ContainerID != winners[0] {
		t.Errorf("ContainerID = %q, want the winner's %q", got.ContainerID, winners[0])
	}
}

// seedRuns creates n runs over two pipelines and all statuses. Every third
// run shares its QueuedAt with the previous one, so paging must break ties
// by ID. It returns them sorted ascending by (QueuedAt, ID).
func seedRuns(t *testing.T, s status.Store, n int, base time.Time) []status.Run {
	t.Helper()
	c := ctx(t)
	statuses := []status.RunStatus{status.RunPending, status.RunRunning, status.RunSuccess, status.RunFailed,
		status.RunCancelled, status.RunTimeout, status.RunInterrupted}
	var runs []status.Run
	at := base
	for i := range n {
		if i%3 != 2 {
			at = at.Add(time.Minute)
		}
		pipeline := "alpha"
		if i%2 == 1 {
			pipeline = "beta"
		}
		// IDs deliberately not in time order, so ordering by ID alone fails.
		id := fmt.Sprintf("run-%03d", (i*37)%n)
		trigger := status.TriggerManual
		if i%5 == 0 {
			trigger = status.TriggerSchedule
		}
		r, err := s.CreateRun(c, status.Run{ID: id, Pipeline: pipeline, Status: statuses[i%len(statuses)],
			QueuedAt: at, Revision: fmt.Sprintf("rev-%d", i%4), Trigger: trigger})
		must(t, err)
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b status.Run) int {
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return runs
}

func ids(runs []status.Run) []string {
	out := make([]string, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

// pageAll follows cursors to the end and returns every ID seen.
func pageAll(t *testing.T, s status.Store, f status.RunFilter) []string {
	t.Helper()
	var got []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		page, err := s.ListRuns(ctx(t), f)
		must(t, err)
		if len(page.Runs) > f.Limit && f.Limit > 0 {
			t.Fatalf("page of %d runs, limit %d", len(page.Runs), f.Limit)
		}
		got = append(got, ids(page.Runs)...)
		if page.NextCursor == "" {
			return got
		}
		f.Cursor = page.NextCursor
	}
}

func testListRunsPaging(t *testing.T, s status.Store) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, berlin(t))
	runs := seedRuns(t, s, 30, base)
	asc := ids(runs)
	desc := slices.Clone(asc)
	slices.Reverse(desc)

	tests := []struct {
		name string
		f    status.RunFilter
		want []string
	}{
		{"desc by default, pages of 4", status.RunFilter{Limit: 4}, desc},
		{"asc, pages of 4", status.RunFilter{Order: status.OrderAsc, Limit: 4}, asc},
		{"asc, page size dividing the total", status.RunFilter{Order: status.OrderAsc, Limit: 5}, asc},
		{"desc, one page", status.RunFilter{Order: status.OrderDesc, Limit: 100}, desc},
		{"desc, pages of 1", status.RunFilter{Limit: 1}, desc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "paged IDs", tt.want, pageAll(t, s, tt.f))
		})
	}

	page, err := s.ListRuns(ctx(t), status.RunFilter{})
	must(t, err)
	if len(page.Runs) != 30 || page.NextCursor != "" {
		t.Errorf("default limit: %d runs, cursor %q; want all 30 and no cursor", len(page.Runs), page.NextCursor)
	}
	diff(t, "listed run equals GetRun", runs[len(runs)-1], page.Runs[0])
	for _, r := range page.Runs {
		inUTC(t, "ListRuns", r.QueuedAt)
	}
}

func testListRunsFilters(t *testing.T, s status.Store) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	runs := seedRuns(t, s, 30, base)
	pick := func(keep func(status.Run) bool) []string {
		var out []string
		for _, r := range runs {
			if keep(r) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	since, until := runs[5].QueuedAt, runs[20].QueuedAt
	loc := berlin(t)

	tests := []struct {
		name string
		f    status.RunFilter
		want []string
	}{
		{"pipeline", status.RunFilter{Pipeline: "beta"},
			pick(func(r status.Run) bool { return r.Pipeline == "beta" })},
		{"one status", status.RunFilter{Statuses: []status.RunStatus{status.RunFailed}},
			pick(func(r status.Run) bool { return r.Status == status.RunFailed })},
		{"active statuses", status.RunFilter{Statuses: []status.RunStatus{status.RunPending, status.RunRunning}},
			pick(func(r status.Run) bool { return r.Status == status.RunPending || r.Status == status.RunRunning })},
		{"since inclusive, until exclusive, given in another zone",
			status.RunFilter{Since: since.In(loc), Until: until.In(loc)},
			pick(func(r status.Run) bool { return !r.QueuedAt.Before(since) && r.QueuedAt.Before(until) })},
		{"everything at once", status.RunFilter{Pipeline: "alpha", Since: since,
			Statuses: []status.RunStatus{status.RunSuccess, status.RunPending, status.RunTimeout}},
			pick(func(r status.Run) bool {
				return r.Pipeline == "alpha" && !r.QueuedAt.Before(since) &&
					(r.Status == status.RunSuccess || r.Status == status.RunPending || r.Status == status.RunTimeout)
			})},
		{"trigger", status.RunFilter{Triggers: []status.Trigger{status.TriggerSchedule}},
			pick(func(r status.Run) bool { return r.Trigger == status.TriggerSchedule })},
		{"trigger and status", status.RunFilter{Triggers: []status.Trigger{status.TriggerManual, status.TriggerRetry},
			Statuses: []status.RunStatus{status.RunFailed}},
			pick(func(r status.Run) bool { return r.Trigger == status.TriggerManual && r.Status == status.RunFailed })},
		{"unknown pipeline", status.RunFilter{Pipeline: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 && tt.name != "unknown pipeline" {
				t.Fatal("test data selects nothing; the test would prove nothing")
			}
			f := tt.f
			f.Order, f.Limit = status.OrderAsc, 3
			diff(t, "asc", tt.want, pageAll(t, s, f))
			f.Order = status.OrderDesc
			want := slices.Clone(tt.want)
			slices.Reverse(want)
			diff(t, "desc", want, pageAll(t, s, f))
		})
	}
}

func testListRunsInvalid(t *testing.T, s status.Store) {
	c := ctx(t)
	seedRuns(t, s, 3, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, cur := range []string{"%%%", "bm90IGEgY3Vyc29y", "MTIz"} {
		_, err := s.ListRuns(c, status.RunFilter{Cursor: cur})
		wantErr(t, "ListRuns cursor "+cur, err, status.ErrInvalidCursor)
	}
	_, err := s.ListRuns(c, status.RunFilter{Order: "sideways"})
	wantErr(t, "ListRuns order", err, status.ErrInvalidArgument)
}

func testActiveRevisions(t *testing.T, s status.Store) {
	c := ctx(t)
	got, err := s.ActiveRevisions(c)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("ActiveRevisions on empty store = %v", got)
	}
	for i, r := range []status.Run{
		{Pipeline: "a", Status: status.RunPending, Revision: "ccc"},
		{Pipeline: "a", Status: status.RunRunning, Revision: "aaa"},
		{Pipeline: "b", Status: status.RunRunning, Revision: "ccc"},
		{Pipeline: "b", Status: status.RunSuccess, Revision: "old"},
		{Pipeline: "b", Status: status.RunFailed, Revision: "old2"},
		{Pipeline: "c", Status: status.RunPending}, // not resolved yet
	} {
		r.ID = fmt.Sprintf("r%d", i)
		_, err := s.CreateRun(c, r)
		must(t, err)
	}
	got, err = s.ActiveRevisions(c)
	must(t, err)
	diff(t, "ActiveRevisions", []string{"aaa", "ccc"}, got)
}

func testDeleteRunsBefore(t *testing.T, s status.Store) {
	c := ctx(t)
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cut := old.Add(24 * time.Hour)
	for _, r := range []status.Run{
		{ID: "old-done", Status: status.RunSuccess, QueuedAt: old},
		{ID: "old-running", Status: status.RunRunning, QueuedAt: old},
		{ID: "new-done", Status: status.RunFailed, QueuedAt: cut},
		{ID: "retry-of-old", Status: status.RunSuccess, QueuedAt: cut.Add(time.Hour), RetryOf: "old-done"},
	} {
		r.Pipeline = "p"
		_, err := s.CreateRun(c, r)
		must(t, err)
	}
	n, err := s.DeleteRunsBefore(c, cut)
	must(t, err)
	if n != 1 {
		t.Errorf("deleted %d runs, want 1", n)
	}
	page, err := s.ListRuns(c, status.RunFilter{Order: status.OrderAsc})
	must(t, err)
	diff(t, "remaining runs", []string{"old-running", "new-done", "retry-of-old"}, ids(page.Runs))
	r, err := s.GetRun(c, "retry-of-old")
	must(t, err)
	if r.RetryOf != "" {
		t.Errorf("RetryOf = %q after its original was deleted, want empty", r.RetryOf)
	}
}

// testListRunsRetryOf: the retries of one run, and only those, whatever
// else the pipeline ran in between.
func testListRunsRetryOf(t *testing.T, s status.Store) {
	c := ctx(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, retryOf string, minute int) {
		t.Helper()
		_, err := s.CreateRun(c, status.Run{ID: id, Pipeline: "alpha", Status: status.RunFailed, RetryOf: retryOf,
			QueuedAt: base.Add(time.Duration(minute) * time.Minute)})
		must(t, err)
	}
	mk("first", "", 0)
	for i := range 5 {
		mk(fmt.Sprintf("other-%d", i), "", 1+i)
	}
	mk("retry-1", "first", 10)
	mk("retry-of-retry", "retry-1", 20)
	mk("retry-2", "first", 30)
	f := status.RunFilter{RetryOf: "first", Order: status.OrderAsc, Limit: 1}
	diff(t, "retries of first", []string{"retry-1", "retry-2"}, pageAll(t, s, f))
	f.RetryOf = "other-0"
	diff(t, "retries of a run never retried", []string(nil), pageAll(t, s, f))
}
