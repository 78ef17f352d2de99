package operator

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNextFire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sc    schemas.Schedule
		after string
		want  string
	}{
		{"5 fields, next minute", schemas.Schedule{Cron: "*/5 * * * *"}, "2026-01-10T10:02:30Z", "2026-01-10T10:05:00Z"},
		{"5 fields, strictly after a due time", schemas.Schedule{Cron: "*/5 * * * *"}, "2026-01-10T10:05:00Z", "2026-01-10T10:10:00Z"},
		{"6 fields, every 2 seconds", schemas.Schedule{Cron: "*/2 * * * * *"}, "2026-01-10T10:00:00.5Z", "2026-01-10T10:00:02Z"},
		{"6 fields, at second 30", schemas.Schedule{Cron: "30 * * * * *"}, "2026-01-10T10:00:31Z", "2026-01-10T10:01:30Z"},
		{"macro @hourly", schemas.Schedule{Cron: "@hourly"}, "2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z"},
		{"macro @daily", schemas.Schedule{Cron: "@daily"}, "2026-01-10T10:00:00Z", "2026-01-11T00:00:00Z"},
		{"every 15m, aligned to the clock", schemas.Schedule{Every: "15m"}, "2026-01-10T10:07:00Z", "2026-01-10T10:15:00Z"},
		{"every 15m, strictly after", schemas.Schedule{Every: "15m"}, "2026-01-10T10:15:00Z", "2026-01-10T10:30:00Z"},
		{"every 2s", schemas.Schedule{Every: "2s"}, "2026-01-10T10:00:01.9Z", "2026-01-10T10:00:02Z"},
		{"timezone: 09:00 in New York is 14:00 UTC in winter", schemas.Schedule{Cron: "0 9 * * *", Timezone: "America/New_York"}, "2026-01-10T12:00:00Z", "2026-01-10T14:00:00Z"},
		{"timezone: 09:00 in Tokyo", schemas.Schedule{Cron: "0 9 * * *", Timezone: "Asia/Tokyo"}, "2026-01-10T12:00:00Z", "2026-01-11T00:00:00Z"},
		// Berlin, spring forward 2026-03-29: 02:00 CET becomes 03:00 CEST
		// (01:00 UTC). 02:30 does not exist; it fires at 03:00 CEST.
		{"DST gap: skipped 02:30 fires at the end of the gap", schemas.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
		{"DST gap: next day back to 02:30 CEST", schemas.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}, "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		{"DST gap: 01:30 CET unaffected", schemas.Schedule{Cron: "30 1 * * *", Timezone: "Europe/Berlin"}, "2026-03-28T12:00:00Z", "2026-03-29T00:30:00Z"},
		// Berlin, fall back 2026-10-25: 03:00 CEST becomes 02:00 CET
		// (01:00 UTC). 02:30 happens at 00:30 and 01:30 UTC; only the first fires.
		{"DST repeat: first 02:30", schemas.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"DST repeat: the second 02:30 does not fire", schemas.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}, "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		{"DST repeat: starting inside the repeated hour", schemas.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}, "2026-10-25T01:10:00Z", "2026-10-26T01:30:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := NextFire(tc.sc, mustTime(t, tc.after))
			if err != nil {
				t.Fatal(err)
			}
			if want := mustTime(t, tc.want); !got.Equal(want) {
				t.Errorf("NextFire(%+v, %s) = %s, want %s", tc.sc, tc.after, got.UTC().Format(time.RFC3339), tc.want)
			}
		})
	}
}

// TestNextFireDSTDaysFireOnce walks whole days fire by fire: a daily
// 02:30 in Berlin fires exactly once on both transition days.
func TestNextFireDSTDaysFireOnce(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		day  time.Time
		want []string // local fire times on that day
	}{
		{"spring forward", time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), []string{"03:00 CEST"}},
		{"fall back", time.Date(2026, 10, 25, 0, 0, 0, 0, berlin), []string{"02:30 CEST"}},
		{"ordinary day", time.Date(2026, 6, 1, 0, 0, 0, 0, berlin), []string{"02:30 CEST"}},
	}
	sc := schemas.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			end := tc.day.AddDate(0, 0, 1)
			var got []string
			at := tc.day.Add(-time.Second)
			for {
				at, err = NextFire(sc, at)
				if err != nil {
					t.Fatal(err)
				}
				if !at.Before(end) {
					break
				}
				got = append(got, at.In(berlin).Format("15:04 MST"))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fires on %s (-want +got):\n%s", tc.day.Format(time.DateOnly), diff)
			}
		})
	}
}

func TestNextFireErrors(t *testing.T) {
	t.Parallel()
	for _, sc := range []schemas.Schedule{{}, {Cron: "not a cron"}, {Cron: "0 0 30 2 *"}} {
		if got, err := NextFire(sc, time.Now()); err == nil {
			t.Errorf("NextFire(%+v) = %s, want an error", sc, got)
		}
	}
}

func TestDueFires(t *testing.T) {
	t.Parallel()
	start := mustTime(t, "2026-01-10T10:00:00Z")
	tests := []struct {
		name        string
		sc          schemas.Schedule
		now         time.Time
		keep        int
		wantDues    int
		wantDropped int
		wantNext    time.Time
	}{
		{"one on time", schemas.Schedule{Cron: "* * * * *"}, start.Add(100 * time.Millisecond), 1, 1, 0, start.Add(time.Minute)},
		{"an hour down, latest", schemas.Schedule{Cron: "*/5 * * * *"}, start.Add(time.Hour + time.Second), 1, 1, 12, start.Add(time.Hour + 5*time.Minute)},
		{"an hour down, all", schemas.Schedule{Cron: "*/5 * * * *"}, start.Add(time.Hour + time.Second), 100, 13, 0, start.Add(time.Hour + 5*time.Minute)},
		{"a day of minutes, all capped at 100", schemas.Schedule{Cron: "* * * * *"}, start.Add(24 * time.Hour), 100, 100, 24*60 + 1 - 100, start.Add(24*time.Hour + time.Minute)},
		{"every, closed form", schemas.Schedule{Every: "1s"}, start.Add(7 * 24 * time.Hour), 100, 100, 7*24*3600 + 1 - 100, start.Add(7*24*time.Hour + time.Second)},
		{"a week of seconds by cron is cut short", schemas.Schedule{Cron: "* * * * * *"}, start.Add(7 * 24 * time.Hour), 100, 100, 7*24*3600 + 1 - 100, start.Add(7*24*time.Hour + time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dues, dropped, next, err := dueFires(tc.sc, start, tc.now, tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			if len(dues) != tc.wantDues || !next.Equal(tc.wantNext) {
				t.Errorf("dueFires: %d dues, next %s; want %d, %s", len(dues), next, tc.wantDues, tc.wantNext)
			}
			// The cut-short walk estimates what it skipped.
			if d := dropped - tc.wantDropped; d < -1 || d > 1 {
				t.Errorf("dropped %d, want %d", dropped, tc.wantDropped)
			}
			if len(dues) > 0 && dues[len(dues)-1].After(tc.now) {
				t.Errorf("last due %s is after now %s", dues[len(dues)-1], tc.now)
			}
		})
	}
}

func TestPickCatchup(t *testing.T) {
	t.Parallel()
	now := mustTime(t, "2026-01-10T12:00:00Z")
	missed := []time.Time{now.Add(-3 * time.Hour), now.Add(-2 * time.Hour), now.Add(-time.Hour)}
	onTime := []time.Time{now.Add(-2 * time.Hour), now.Add(-time.Second)}
	tests := []struct {
		name    string
		catchup schemas.Catchup
		dues    []time.Time
		want    []time.Time
	}{
		{"latest runs the newest missed fire once", schemas.CatchupLatest, missed, missed[2:]},
		{"all runs each", schemas.CatchupAll, missed, missed},
		{"none runs nothing missed", schemas.CatchupNone, missed, nil},
		{"none still runs the on-time fire", schemas.CatchupNone, onTime, onTime[1:]},
		{"latest runs the on-time fire once", schemas.CatchupLatest, onTime, onTime[1:]},
		{"a single on-time fire runs", schemas.CatchupNone, onTime[1:], onTime[1:]},
	}
	s := &scheduler{log: slog.New(slog.DiscardHandler)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := s.pick(&schedEntry{pipeline: "p", id: "0", catchup: tc.catchup}, tc.dues, 0, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pick (-want +got):\n%s", diff)
			}
		})
	}
}

// schedFire is one row of the store's schedule_fires table.
type schedFire struct {
	key, runID string
}

// storedFires reads the claimed fire keys of a pipeline from the SQLite
// file directly: the store has no listing of fires.
func storedFires(t *testing.T, data, pipeline string) []schedFire {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(data, sqlstore.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT fire_key, run_id FROM schedule_fires WHERE pipeline = ? ORDER BY fire_at`, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []schedFire
	for rows.Next() {
		var f schedFire
		if err := rows.Scan(&f.key, &f.runID); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *runEnv) runsOf(pipeline string) []status.Run {
	e.t.Helper()
	page, err := e.store.ListRuns(context.Background(), status.RunFilter{Pipeline: pipeline, Order: status.OrderAsc, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Runs
}

// sync commits files and waits until the operator has the new revision live.
func (e *runEnv) commitAndSync(msg string, files map[string]string) {
	e.t.Helper()
	sha := e.remote.Commit(msg, files)
	e.op.RequestSync("test")
	e.waitFor("revision "+sha[:8]+" live", 30*time.Second, func() bool {
		s := e.op.Snapshot()
		return s != nil && strings.HasPrefix(s.Revision, sha)
	})
}

func TestScheduleFiresAndDisableStops(t *testing.T) {
	env := newRunEnv(t, map[string]string{"hello/main.py": "print('hi')\n"}, nil)
	env.commitAndSync("add ticker", map[string]string{
		"ticker/main.py":       "print('tick')\n",
		"ticker/pipeline.json": `{"schedule": "*/2 * * * * *", "concurrency_policy": "Allow"}`,
	})
	env.waitFor("a scheduled run", 5*time.Second, func() bool {
		for _, r := range env.runsOf("ticker") {
			if r.Trigger == status.TriggerSchedule {
				return true
			}
		}
		return false
	})
	env.commitAndSync("disable ticker", map[string]string{
		"ticker/pipeline.json": `{"schedule": "*/2 * * * * *", "concurrency_policy": "Allow", "enabled": false}`,
	})
	// A fire claimed just before the sync may still be recording.
	time.Sleep(500 * time.Millisecond)
	before := len(env.runsOf("ticker"))
	time.Sleep(5 * time.Second)
	if after := len(env.runsOf("ticker")); after != before {
		t.Errorf("disabled pipeline fired: %d runs before, %d after 5 s", before, after)
	}
	// Every run belongs to a claimed fire key, and each key to one run.
	runs := map[string]bool{}
	for _, r := range env.runsOf("ticker") {
		runs[r.ID] = true
	}
	for _, f := range storedFires(t, env.data, "ticker") {
		if f.runID != "" && !runs[f.runID] {
			t.Errorf("fire %s names run %s, which does not exist", f.key, f.runID)
		}
	}
	for _, r := range env.runsOf("ticker") {
		env.waitFinal(r.ID, 60*time.Second)
	}
}

func TestScheduleForbidSkips(t *testing.T) {
	env := newRunEnv(t, map[string]string{
		"slow/main.py":       "import time\nprint('slow', flush=True)\ntime.sleep(5)\n",
		"slow/pipeline.json": `{"schedule": "* * * * * *"}`,
	}, nil)
	deadline := time.Now().Add(9 * time.Second)
	maxActive := 0
	for time.Now().Before(deadline) {
		n := 0
		for _, r := range env.runsOf("slow") {
			if !r.Status.Final() {
				n++
			}
		}
		maxActive = max(maxActive, n)
		time.Sleep(50 * time.Millisecond)
	}
	// Unschedule and let the last run end: the test leaves no containers.
	env.commitAndSync("unschedule", map[string]string{"slow/pipeline.json": `{}`})
	for _, r := range env.runsOf("slow") {
		env.waitFinal(r.ID, 60*time.Second)
	}
	env.stop()
	if maxActive != 1 {
		t.Errorf("at most %d runs of a Forbid pipeline were active at once, want 1", maxActive)
	}
	skipped := 0
	for _, f := range storedFires(t, env.data, "slow") {
		if f.runID == "" {
			skipped++
		}
	}
	if skipped < 3 {
		t.Errorf("%d skipped fires recorded in 9 s of a 1-second schedule with a 5-second run, want at least 3", skipped)
	}
}

// TestScheduleRestartFiresOnce: fires missed while the operator was down
// run once (latest), and a restart that finds the same fire due again (its
// state not yet persisted) does not run it twice: the fire key is claimed.
func TestScheduleRestartFiresOnce(t *testing.T) {
	// Stay clear of a minute boundary, which would add an on-time fire.
	if s := time.Now().Second(); s > 40 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	env := newRunEnv(t, map[string]string{
		"minutely/main.py":       "print('tick')\n",
		"minutely/pipeline.json": `{"schedule": "* * * * *"}`,
	}, nil)
	ctx := context.Background()
	var st status.ScheduleState
	env.waitFor("schedule state", 5*time.Second, func() bool {
		states, err := env.store.ListScheduleStates(ctx, "minutely")
		if err == nil && len(states) == 1 {
			st = states[0]
			return true
		}
		return false
	})
	env.stop()

	// As if the operator had been down for three minutes.
	minute := time.Now().UTC().Truncate(time.Minute)
	rewind := func() {
		store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: env.data})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		st.LastFire, st.NextFire = minute.Add(-4*time.Minute), minute.Add(-2*time.Minute)
		if err := store.PutScheduleState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	rewind()
	env.start()
	wantKey := fireKey("minutely", "0", minute)
	env.waitFor("the catch-up run", 10*time.Second, func() bool { return len(env.runsOf("minutely")) > 0 })
	time.Sleep(time.Second)
	runs := env.runsOf("minutely")
	if len(runs) != 1 || runs[0].TriggeredBy != wantKey {
		t.Fatalf("after downtime: %d runs (%v), want one for %s", len(runs), runs, wantKey)
	}
	env.waitFinal(runs[0].ID, 60*time.Second)
	env.stop()

	// The state is rewound again: the same fires are due once more.
	rewind()
	env.start()
	time.Sleep(2 * time.Second)
	if runs := env.runsOf("minutely"); len(runs) != 1 {
		t.Errorf("after a second restart with the same fire due: %d runs, want still 1", len(runs))
	}
	fires := storedFires(t, env.data, "minutely")
	if len(fires) != 1 || fires[0].key != wantKey || fires[0].runID != runs[0].ID {
		t.Errorf("fires = %+v, want one %s for run %s", fires, wantKey, runs[0].ID)
	}
}

// TestScheduledFireQueuesOverLimit: over MAX_CONCURRENT_RUNS a scheduled
// fire waits as a PENDING run and starts when the slot frees; a manual run
// is still refused.
func TestScheduledFireQueuesOverLimit(t *testing.T) {
	env := newRunEnv(t, map[string]string{
		"waiter/main.py": "import time\nprint('waiting', flush=True)\ntime.sleep(300)\n",
		"hello/main.py":  "print('hi')\n",
	}, func(c *Config) { c.MaxConcurrentRuns = 1 })
	ctx := context.Background()
	blocker, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "waiter"})
	if err != nil {
		t.Fatal(err)
	}
	env.commitAndSync("schedule hello", map[string]string{"hello/pipeline.json": `{"schedule": "* * * * * *"}`})
	var queued status.Run
	env.waitFor("a queued scheduled run", 5*time.Second, func() bool {
		for _, r := range env.runsOf("hello") {
			if r.Status == status.RunPending && strings.HasPrefix(r.Message, "queued:") {
				queued = r
				return true
			}
		}
		return false
	})
	if _, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "hello"}); !errors.Is(err, ErrTooManyRuns) {
		t.Errorf("manual run over the limit: err = %v, want ErrTooManyRuns", err)
	}
	if err := env.op.CancelRun(ctx, blocker.ID); err != nil {
		t.Fatal(err)
	}
	if r := env.waitFinal(queued.ID, 60*time.Second); r.Status != status.RunSuccess {
		t.Errorf("queued run ended %s (%s), want SUCCESS", r.Status, r.Message)
	}
	env.commitAndSync("unschedule hello", map[string]string{"hello/pipeline.json": `{}`})
	for _, r := range env.runsOf("hello") {
		env.waitFinal(r.ID, 60*time.Second)
	}
}

// BenchmarkFirePrecision measures the delay from a fire's due time to its
// PENDING record (queued_at), over FIRES fires of a 1-second schedule
// (default 100).
func BenchmarkFirePrecision(b *testing.B) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("FIRES")); err == nil && v > 0 {
		n = v
	}
	env := newRunEnv(b, map[string]string{
		"tick/main.py":       "print('tick')\n",
		"tick/pipeline.json": `{"schedule": "* * * * * *", "concurrency_policy": "Allow"}`,
	}, func(c *Config) { c.MaxConcurrentRuns = 50 })
	for b.Loop() {
		env.waitFor("fires", time.Duration(n+10)*time.Second, func() bool { return len(runsOf(b, env, "tick")) >= n })
	}
	runs := runsOf(b, env, "tick")[:n]
	// Unschedule, then let every run end: the test leaves no containers.
	env.commitAndSync("unschedule", map[string]string{"tick/pipeline.json": `{}`})
	for _, r := range runsOf(b, env, "tick") {
		env.waitFinal(r.ID, 60*time.Second)
	}
	env.stop()
	var delays []time.Duration
	for _, r := range runs {
		due, err := time.Parse(time.RFC3339, r.TriggeredBy[strings.LastIndex(r.TriggeredBy, ":0:")+3:])
		if err != nil {
			b.Fatal(err)
		}
		delays = append(delays, r.QueuedAt.Sub(due))
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
}

func runsOf(tb testing.TB, env *runEnv, pipeline string) []status.Run {
	page, err := env.store.ListRuns(context.Background(), status.RunFilter{Pipeline: pipeline, Order: status.OrderAsc, Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	return page.Runs
}
