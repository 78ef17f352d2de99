package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

func testSyncs(t *testing.T, s status.Store) {
	c := ctx(t)
	_, err := s.LastSync(c)
	wantErr(t, "LastSync on empty store", err, status.ErrNotFound)
	list, err := s.ListSyncs(c, 10)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("ListSyncs on empty store = %v", list)
	}

	loc := berlin(t)
	t0 := time.Date(2026, 11, 27, 5, 0, 0, 987654321, loc)
	evs := []status.SyncEvent{
		{Trigger: "poll", StartedAt: t0.Add(time.Minute), FinishedAt: t0.Add(time.Minute + 40*time.Millisecond),
			Revision: "main@sha1:bbb", Branch: "main", CommitMessage: "second", Outcome: status.SyncUpdated, Pipelines: 6, Problems: 1},
		{Trigger: "webhook", StartedAt: t0, FinishedAt: t0.Add(2 * time.Second),
			Revision: "main@sha1:aaa", Branch: "main", CommitMessage: "first\n\nbody", Outcome: status.SyncUpdated, Pipelines: 5},
		{Trigger: "manual", StartedAt: t0.Add(2 * time.Minute), FinishedAt: t0.Add(3 * time.Minute),
			Branch: "main", Outcome: status.SyncFailed, Error: "fetch: remote unreachable"},
	}
	var lastID int64
	for i := range evs {
		id, err := s.RecordSync(c, evs[i])
		must(t, err)
		if id <= lastID {
			t.Errorf("RecordSync id %d after %d: want increasing", id, lastID)
		}
		lastID = id
		evs[i].ID = id
		evs[i].StartedAt, evs[i].FinishedAt = norm(evs[i].StartedAt), norm(evs[i].FinishedAt)
	}

	last, err := s.LastSync(c)
	must(t, err)
	diff(t, "LastSync", evs[2], last)
	inUTC(t, "LastSync", last.StartedAt, last.FinishedAt)

	list, err = s.ListSyncs(c, 0)
	must(t, err)
	diff(t, "ListSyncs newest first", []status.SyncEvent{evs[2], evs[0], evs[1]}, list)
	list, err = s.ListSyncs(c, 2)
	must(t, err)
	diff(t, "ListSyncs limit 2", []status.SyncEvent{evs[2], evs[0]}, list)

	_, err = s.RecordSync(c, status.SyncEvent{Outcome: status.SyncFailed})
	wantErr(t, "RecordSync without StartedAt", err, status.ErrInvalidArgument)
}

func testPipelines(t *testing.T, s status.Store) {
	c := ctx(t)
	_, err := s.GetPipelineStats(c, "hello")
	wantErr(t, "GetPipelineStats unknown", err, status.ErrNotFound)
	wantErr(t, "ResetCounters unknown", s.ResetCounters(c, "hello"), status.ErrNotFound)

	warm := time.Date(2026, 3, 29, 1, 30, 0, 999, berlin(t))
	p := status.Pipeline{Name: "hello", HasRequirements: true, RequirementsHash: "sha256:abc",
		LastCacheWarmup: warm, CacheStatus: "warm", CacheOutput: "Installed 3 packages",
		TotalRuns: 99, SuccessfulRuns: 99} // counters must be ignored
	must(t, s.UpsertPipeline(c, p))
	got, err := s.GetPipelineStats(c, "hello")
	must(t, err)
	want := p
	want.LastCacheWarmup, want.TotalRuns, want.SuccessfulRuns = norm(warm), 0, 0
	diff(t, "GetPipelineStats after upsert", want, got)
	inUTC(t, "GetPipelineStats", got.LastCacheWarmup)

	for _, st := range []status.RunStatus{status.RunSuccess, status.RunSuccess, status.RunFailed,
		status.RunTimeout, status.RunCancelled, status.RunInterrupted, status.RunInterrupted} {
		must(t, s.IncrementCounters(c, "hello", st))
	}
	// Upserting cache state again leaves the counters alone.
	p.CacheStatus, p.HasRequirements, p.LastCacheWarmup = "failed", false, time.Time{}
	must(t, s.UpsertPipeline(c, p))
	got, err = s.GetPipelineStats(c, "hello")
	must(t, err)
	want.CacheStatus, want.HasRequirements, want.LastCacheWarmup = "failed", false, time.Time{}
	want.TotalRuns, want.SuccessfulRuns, want.FailedRuns = 4, 2, 2
	want.CancelledRuns, want.InterruptedRuns = 1, 2
	diff(t, "after increments and second upsert", want, got)

	// Counting a pipeline the store has not seen creates it.
	must(t, s.IncrementCounters(c, "fresh", status.RunFailed))
	fresh, err := s.GetPipelineStats(c, "fresh")
	must(t, err)
	diff(t, "fresh pipeline", status.Pipeline{Name: "fresh", TotalRuns: 1, FailedRuns: 1}, fresh)

	before := time.Now()
	must(t, s.ResetCounters(c, "hello"))
	after := time.Now()
	got, err = s.GetPipelineStats(c, "hello")
	must(t, err)
	if got.TotalRuns != 0 || got.SuccessfulRuns != 0 || got.FailedRuns != 0 || got.CancelledRuns != 0 || got.InterruptedRuns != 0 {
		t.Errorf("after reset: %d/%d/%d/%d/%d, want zeros", got.TotalRuns, got.SuccessfulRuns, got.FailedRuns,
			got.CancelledRuns, got.InterruptedRuns)
	}
	between(t, "CountersResetAt", got.CountersResetAt, before, after)
	inUTC(t, "CountersResetAt", got.CountersResetAt)

	all, err := s.ListPipelines(c)
	must(t, err)
	var names []string
	for _, p := range all {
		names = append(names, p.Name)
	}
	diff(t, "ListPipelines", []string{"fresh", "hello"}, names)
	diff(t, "listed pipeline equals GetPipelineStats", fresh, all[0])

	wantErr(t, "UpsertPipeline without name", s.UpsertPipeline(c, status.Pipeline{}), status.ErrInvalidArgument)
}

// counts is what one run ending in st adds to a pipeline's counters.
func counts(st status.RunStatus) status.Pipeline {
	switch st {
	case status.RunSuccess:
		return status.Pipeline{TotalRuns: 1, SuccessfulRuns: 1}
	case status.RunFailed, status.RunTimeout:
		return status.Pipeline{TotalRuns: 1, FailedRuns: 1}
	case status.RunCancelled:
		return status.Pipeline{CancelledRuns: 1}
	case status.RunInterrupted:
		return status.Pipeline{InterruptedRuns: 1}
	}
	return status.Pipeline{}
}

// add is p with the counters of q added.
func add(p, q status.Pipeline) status.Pipeline {
	p.TotalRuns += q.TotalRuns
	p.SuccessfulRuns += q.SuccessfulRuns
	p.FailedRuns += q.FailedRuns
	p.CancelledRuns += q.CancelledRuns
	p.InterruptedRuns += q.InterruptedRuns
	return p
}

// testCounterStatuses pins down which counters each final status moves:
// the success rate counts only runs that ended by themselves.
func testCounterStatuses(t *testing.T, s status.Store) {
	tests := []struct {
		name    string
		st      status.RunStatus
		want    status.Pipeline
		wantErr error
	}{
		{"success counts as run and success", status.RunSuccess, status.Pipeline{TotalRuns: 1, SuccessfulRuns: 1}, nil},
		{"failure counts as run and failure", status.RunFailed, status.Pipeline{TotalRuns: 1, FailedRuns: 1}, nil},
		{"timeout counts as run and failure", status.RunTimeout, status.Pipeline{TotalRuns: 1, FailedRuns: 1}, nil},
		{"cancelled counts only as cancelled", status.RunCancelled, status.Pipeline{CancelledRuns: 1}, nil},
		{"interrupted counts only as interrupted", status.RunInterrupted, status.Pipeline{InterruptedRuns: 1}, nil},
		{"pending is refused", status.RunPending, status.Pipeline{}, status.ErrInvalidArgument},
		{"running is refused", status.RunRunning, status.Pipeline{}, status.ErrInvalidArgument},
		{"unknown status is refused", "BOGUS", status.Pipeline{}, status.ErrInvalidArgument},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx(t)
			name := fmt.Sprintf("counted-%d", i)
			err := s.IncrementCounters(c, name, tt.st)
			got, getErr := s.GetPipelineStats(c, name)
			if tt.wantErr != nil {
				wantErr(t, "IncrementCounters", err, tt.wantErr)
				wantErr(t, "GetPipelineStats after a refused increment", getErr, status.ErrNotFound)
				return
			}
			must(t, err)
			must(t, getErr)
			tt.want.Name = name
			diff(t, "counters", tt.want, got)
		})
	}
	wantErr(t, "IncrementCounters without name", s.IncrementCounters(ctx(t), "", status.RunSuccess), status.ErrInvalidArgument)
}

// testCounterHammer proves IncrementCounters is atomic and that many
// concurrent writers, with readers alongside, never see "database is
// locked" or lose an increment.
func testCounterHammer(t *testing.T, s status.Store) {
	c := ctx(t)
	const workers, each = 32, 50
	finals := []status.RunStatus{status.RunSuccess, status.RunSuccess, status.RunSuccess, status.RunFailed,
		status.RunTimeout, status.RunCancelled, status.RunInterrupted}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := "hammer-a"
				if w%2 == 1 {
					name = "hammer-b"
				}
				if err := s.IncrementCounters(c, name, finals[i%len(finals)]); err != nil {
					errs <- fmt.Errorf("worker %d increment %d: %w", w, i, err)
					return
				}
				if i%10 == 0 {
					if _, err := s.GetPipelineStats(c, name); err != nil {
						errs <- fmt.Errorf("worker %d read %d: %w", w, i, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var oneWorker status.Pipeline
	for i := range each {
		oneWorker = add(oneWorker, counts(finals[i%len(finals)]))
	}
	for _, name := range []string{"hammer-a", "hammer-b"} {
		got, err := s.GetPipelineStats(c, name)
		must(t, err)
		want := status.Pipeline{Name: name}
		for range workers / 2 {
			want = add(want, oneWorker)
		}
		diff(t, "counters of "+name, want, got)
	}
}

func testSchedules(t *testing.T, s status.Store) {
	c := ctx(t)
	loc := berlin(t)
	fire := time.Date(2026, 10, 25, 2, 30, 0, 500, loc) // in the repeated DST hour
	states := []status.ScheduleState{
		{Pipeline: "b", Key: "0:@daily", LastFire: fire, NextFire: fire.Add(24 * time.Hour)},
		{Pipeline: "a", Key: "1:*/5 * * * *", NextFire: fire},
		{Pipeline: "a", Key: "0:@hourly"},
	}
	for _, st := range states {
		must(t, s.PutScheduleState(c, st))
	}
	got, err := s.ListScheduleStates(c, "")
	must(t, err)
	want := []status.ScheduleState{
		{Pipeline: "a", Key: "0:@hourly"},
		{Pipeline: "a", Key: "1:*/5 * * * *", NextFire: norm(fire)},
		{Pipeline: "b", Key: "0:@daily", LastFire: norm(fire), NextFire: norm(fire.Add(24 * time.Hour))},
	}
	diff(t, "ListScheduleStates all", want, got)

	// Put replaces.
	must(t, s.PutScheduleState(c, status.ScheduleState{Pipeline: "a", Key: "0:@hourly", LastFire: fire}))
	got, err = s.ListScheduleStates(c, "a")
	must(t, err)
	want = []status.ScheduleState{{Pipeline: "a", Key: "0:@hourly", LastFire: norm(fire)}, want[1]}
	diff(t, "ListScheduleStates a", want, got)

	must(t, s.DeleteScheduleStates(c, "a"))
	must(t, s.DeleteScheduleStates(c, "never-existed"))
	got, err = s.ListScheduleStates(c, "")
	must(t, err)
	if len(got) != 1 || got[0].Pipeline != "b" {
		t.Errorf("after delete: %v, want only b", got)
	}

	f := status.Fire{Key: "b/0:@daily/2026-10-25T00:30:00Z", Pipeline: "b", FireAt: fire, RunID: "r1"}
	must(t, s.RecordFire(c, f))
	wantErr(t, "RecordFire twice", s.RecordFire(c, f), status.ErrConflict)
	wantErr(t, "RecordFire empty", s.RecordFire(c, status.Fire{}), status.ErrInvalidArgument)
}

func testSecrets(t *testing.T, s status.Store) {
	c := ctx(t)
	_, err := s.GetSecret(c, "API_TOKEN")
	wantErr(t, "GetSecret unknown", err, status.ErrNotFound)

	before := time.Now()
	must(t, s.PutSecret(c, "API_TOKEN", []byte{0, 1, 2, 0xff}))
	must(t, s.PutSecret(c, "DB_PASSWORD", []byte("gAAAA-cipher")))
	got, err := s.GetSecret(c, "API_TOKEN")
	must(t, err)
	diff(t, "secret value", []byte{0, 1, 2, 0xff}, got.Value)
	between(t, "CreatedAt", got.CreatedAt, before, time.Now())
	inUTC(t, "GetSecret", got.CreatedAt, got.UpdatedAt)

	time.Sleep(2 * time.Millisecond) // so UpdatedAt can move
	must(t, s.PutSecret(c, "API_TOKEN", []byte("rotated")))
	again, err := s.GetSecret(c, "API_TOKEN")
	must(t, err)
	if string(again.Value) != "rotated" || !again.CreatedAt.Equal(got.CreatedAt) || !again.UpdatedAt.After(got.UpdatedAt) {
		t.Errorf("after replace: value %q, created %v (was %v), updated %v (was %v)",
			again.Value, again.CreatedAt, got.CreatedAt, again.UpdatedAt, got.UpdatedAt)
	}

	list, err := s.ListSecrets(c)
	must(t, err)
	var keys []string
	for _, sec := range list {
		keys = append(keys, sec.Key)
		if sec.Value != nil {
			t.Errorf("ListSecrets returned the value of %s", sec.Key)
		}
	}
	diff(t, "ListSecrets keys", []string{"API_TOKEN", "DB_PASSWORD"}, keys)

	must(t, s.DeleteSecret(c, "API_TOKEN"))
	wantErr(t, "DeleteSecret twice", s.DeleteSecret(c, "API_TOKEN"), status.ErrNotFound)
	wantErr(t, "PutSecret without key", s.PutSecret(c, "", []byte("x")), status.ErrInvalidArgument)
}

func testUsers(t *testing.T, s status.Store) {
	c := ctx(t)
	_, err := s.GetUser(c, "admin")
	wantErr(t, "GetUser unknown", err, status.ErrNotFound)

	before := time.Now()
	u, err := s.CreateUser(c, "admin", "$2a$10$hash")
	must(t, err)
	if u.ID == 0 {
		t.Error("CreateUser returned ID 0")
	}
	between(t, "CreatedAt", u.CreatedAt, before, time.Now())
	got, err := s.GetUser(c, "admin")
	must(t, err)
	diff(t, "GetUser", u, got)

	_, err = s.CreateUser(c, "admin", "$2a$10$other")
	wantErr(t, "CreateUser duplicate", err, status.ErrConflict)
	_, err = s.CreateUser(c, "bob", "$2a$10$bob")
	must(t, err)

	must(t, s.SetPassword(c, "admin", "$2a$10$new"))
	got, err = s.GetUser(c, "admin")
	must(t, err)
	if got.PasswordHash != "$2a$10$new" || got.UpdatedAt.Before(u.UpdatedAt) {
		t.Errorf("after SetPassword: %+v", got)
	}
	wantErr(t, "SetPassword unknown", s.SetPassword(c, "nobody", "x"), status.ErrNotFound)

	all, err := s.ListUsers(c)
	must(t, err)
	if len(all) != 2 || all[0].Username != "admin" || all[1].Username != "bob" {
		t.Errorf("ListUsers = %+v, want admin, bob", all)
	}
}

func testSessions(t *testing.T, s status.Store) {
	c := ctx(t)
	u, err := s.CreateUser(c, "admin", "h")
	must(t, err)
	now := time.Now()
	live := status.Session{TokenHash: "live", UserID: u.ID, CreatedAt: now.In(berlin(t)), ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreateSession(c, live))
	must(t, s.CreateSession(c, status.Session{TokenHash: "stale", UserID: u.ID, ExpiresAt: now.Add(-time.Second)}))

	got, err := s.GetSession(c, "live")
	must(t, err)
	diff(t, "GetSession", status.Session{TokenHash: "live", UserID: u.ID, Username: "admin",
		CreatedAt: norm(live.CreatedAt), ExpiresAt: norm(live.ExpiresAt)}, got)
	inUTC(t, "GetSession", got.CreatedAt, got.ExpiresAt)

	_, err = s.GetSession(c, "stale")
	wantErr(t, "GetSession expired", err, status.ErrNotFound)
	_, err = s.GetSession(c, "unknown")
	wantErr(t, "GetSession unknown", err, status.ErrNotFound)

	err = s.CreateSession(c, status.Session{TokenHash: "live", UserID: u.ID, ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "CreateSession duplicate", err, status.ErrConflict)
	err = s.CreateSession(c, status.Session{TokenHash: "orphan", UserID: u.ID + 1000, ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "CreateSession unknown user", err, status.ErrNotFound)

	n, err := s.DeleteExpiredSessions(c)
	must(t, err)
	if n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, want 1", n)
	}
	must(t, s.DeleteSession(c, "live"))
	must(t, s.DeleteSession(c, "live"))
	_, err = s.GetSession(c, "live")
	wantErr(t, "GetSession after logout", err, status.ErrNotFound)
}

func testAPITokens(t *testing.T, s status.Store) {
	c := ctx(t)
	u, err := s.CreateUser(c, "admin", "h")
	must(t, err)
	tok, err := s.CreateAPIToken(c, status.APIToken{Hash: "h1", Name: "ci", UserID: u.ID})
	must(t, err)
	if tok.ID == 0 || tok.CreatedAt.IsZero() {
		t.Errorf("CreateAPIToken = %+v, want ID and CreatedAt set", tok)
	}
	got, err := s.GetAPIToken(c, "h1")
	must(t, err)
	want := tok
	want.Username = "admin"
	diff(t, "GetAPIToken", want, got)

	_, err = s.CreateAPIToken(c, status.APIToken{Hash: "h1", Name: "dup", UserID: u.ID})
	wantErr(t, "CreateAPIToken duplicate hash", err, status.ErrConflict)
	_, err = s.CreateAPIToken(c, status.APIToken{Hash: "h2", Name: "orphan", UserID: u.ID + 1000})
	wantErr(t, "CreateAPIToken unknown user", err, status.ErrNotFound)
	second, err := s.CreateAPIToken(c, status.APIToken{Hash: "h3", Name: "laptop", UserID: u.ID})
	must(t, err)

	before := time.Now()
	must(t, s.RevokeAPIToken(c, tok.ID))
	after := time.Now()
	_, err = s.GetAPIToken(c, "h1")
	wantErr(t, "GetAPIToken revoked", err, status.ErrNotFound)
	wantErr(t, "RevokeAPIToken unknown", s.RevokeAPIToken(c, 999999), status.ErrNotFound)

	list, err := s.ListAPITokens(c)
	must(t, err)
	if len(list) != 2 || list[0].ID != tok.ID || list[1].ID != second.ID {
		t.Fatalf("ListAPITokens = %+v, want the two tokens by ID", list)
	}
	between(t, "RevokedAt", list[0].RevokedAt, before, after)
	inUTC(t, "RevokedAt", list[0].RevokedAt)
	first := list[0].RevokedAt

	// Revoking again keeps the first time.
	time.Sleep(2 * time.Millisecond)
	must(t, s.RevokeAPIToken(c, tok.ID))
	list, err = s.ListAPITokens(c)
	must(t, err)
	if !list[0].RevokedAt.Equal(first) || !list[1].RevokedAt.IsZero() {
		t.Errorf("after second revoke: %v and %v; want %v and zero", list[0].RevokedAt, list[1].RevokedAt, first)
	}
}

func testDeliveries(t *testing.T, s status.Store) {
	c := ctx(t)
	d := status.Delivery{ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Event: "push"}
	must(t, s.RecordDelivery(c, d))
	wantErr(t, "RecordDelivery redelivered", s.RecordDelivery(c, d), status.ErrConflict)
	must(t, s.RecordDelivery(c, status.Delivery{ID: "other", Event: "ping", ReceivedAt: time.Now()}))
	wantErr(t, "RecordDelivery without id", s.RecordDelivery(c, status.Delivery{}), status.ErrInvalidArgument)
}
