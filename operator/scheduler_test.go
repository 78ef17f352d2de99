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

	"github.com/fastflow-dev/fastflow/runtime/fake"
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
	e := newFakeEnv(t, map[string]string{"hello/main.py": "print('hi')\n"}, map[string]fake.Program{}, nil)
	e.commitAndSync("add ticker", map[string]string{
		"ticker/main.py":       "print('tick')\n",
		"ticker/pipeline.json": `{"schedule": "*/2 * * * * *", "concurrency_policy": "Allow"}`,
	})
	e.advanceUntil("three scheduled runs", 500*time.Millisecond, time.Minute, func() bool { return len(e.runsOf("ticker")) >= 3 })
	e.commitAndSync("disable ticker", map[string]string{
		"ticker/pipeline.json": `{"schedule": "*/2 * * * * *", "concurrency_policy": "Allow", "enabled": false}`,
	})
	// The scheduler picks up a new snapshot on its next wake.
	e.clk.Advance(2 * time.Second)
	time.Sleep(50 * time.Millisecond)
	before := len(e.runsOf("ticker"))
	for range 20 {
		e.clk.Advance(500 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
	}
	if after := len(e.runsOf("ticker")); after != before {
		t.Errorf("disabled pipeline fired: %d runs before, %d after 10 s", before, after)
	}
	// Every run belongs to a claimed fire key, and each key to one run;
	// each run was due on an even second and is stamped with its key.
	runs := map[string]bool{}
	for _, r := range e.runsOf("ticker") {
		runs[r.ID] = true
		if r.Trigger != status.TriggerSchedule || !strings.HasPrefix(r.TriggeredBy, "ticker:0:") {
			t.Errorf("run %s: trigger %s by %q", r.ID, r.Trigger, r.TriggeredBy)
		}
	}
	for _, f := range storedFires(t, e.data, "ticker") {
		if f.runID != "" && !runs[f.runID] {
			t.Errorf("fire %s names run %s, which does not exist", f.key, f.runID)
		}
	}
}

// TestSchedulePolicies: what a fire does while the previous run of its
// pipeline still goes.
func TestSchedulePolicies(t *testing.T) {
	tests := []struct {
		policy string
		// after three fires a second apart of a run that takes a minute:
		active, cancelled, skipped int
	}{
		{"Forbid", 1, 0, 2},
		{"Allow", 3, 0, 0},
		{"Replace", 1, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			e := newFakeEnv(t, map[string]string{
				"slow/main.py":       "# a minute\n",
				"slow/pipeline.json": `{"schedule": "* * * * * *", "concurrency_policy": "` + tt.policy + `"}`,
			}, map[string]fake.Program{"slow": {fake.Print("slow"), fake.Sleep(time.Minute), fake.Exit(0)}}, nil)
			e.advanceUntil("three fires", 100*time.Millisecond, time.Minute, func() bool {
				return len(storedFires(t, e.data, "slow")) >= 3
			})
			// Settle: cancellations take effect, no fourth fire yet.
			e.waitFor("cancellations", 10*time.Second, func() bool {
				n := 0
				for _, r := range e.runsOf("slow") {
					if r.Status == status.RunCancelled {
						n++
					}
				}
				return n >= tt.cancelled
			})
			fires := storedFires(t, e.data, "slow")[:3]
			active, cancelled, skipped := 0, 0, 0
			for _, f := range fires {
				if f.runID == "" {
					skipped++
					continue
				}
				r, err := e.store.GetRun(context.Background(), f.runID)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case r.Status == status.RunCancelled:
					cancelled++
					if !strings.Contains(r.Message, "Replace") {
						t.Errorf("replaced run's message %q does not say why", r.Message)
					}
				case !r.Status.Final():
					active++
				}
			}
			if active != tt.active || cancelled != tt.cancelled || skipped != tt.skipped {
				t.Errorf("%s: %d active, %d cancelled, %d skipped; want %d, %d, %d", tt.policy, active, cancelled, skipped, tt.active, tt.cancelled, tt.skipped)
			}
		})
	}
}

// TestScheduleCatchup: fires missed while the operator was down run per
// the catchup policy, once each; a restart that finds the same fires due
// again (its state rewound) does not run them twice: the keys are claimed.
func TestScheduleCatchup(t *testing.T) {
	tests := []struct {
		catchup string
		want    int // runs for three missed fires
	}{
		{"latest", 1},
		{"all", 3},
		{"none", 0},
	}
	for _, tt := range tests {
		t.Run(tt.catchup, func(t *testing.T) {
			t.Parallel()
			e := newFakeEnv(t, map[string]string{
				"minutely/main.py": "print('tick')\n",
				// Allow: with the default Forbid, catch-up runs of "all" would
				// skip each other.
				"minutely/pipeline.json": `{"schedule": "* * * * *", "concurrency_policy": "Allow", "catchup": "` + tt.catchup + `"}`,
			}, map[string]fake.Program{}, nil)
			ctx := context.Background()
			e.waitFor("schedule state", 10*time.Second, func() bool {
				e.clk.Advance(10 * time.Millisecond)
				states, err := e.store.ListScheduleStates(ctx, "minutely")
				return err == nil && len(states) == 1
			})
			e.stop()
			// Down for three fires (10:01, 10:02, 10:03) and back at 10:03:40.
			e.clk.Advance(3*time.Minute + 40*time.Second)
			e.restart(nil)
			time.Sleep(100 * time.Millisecond)
			e.clk.Advance(time.Second) // the scheduler's first wake
			e.waitFor("catch-up runs", 10*time.Second, func() bool { return len(e.runsOf("minutely")) >= tt.want })
			time.Sleep(100 * time.Millisecond)
			runs := e.runsOf("minutely")
			if len(runs) != tt.want {
				t.Fatalf("after downtime: %d runs, want %d", len(runs), tt.want)
			}
			if tt.want == 1 && runs[0].TriggeredBy != fireKey("minutely", "0", mustTime(t, "2026-12-03T10:03:00Z")) {
				t.Errorf("latest catch-up ran %q, want the 10:03 fire", runs[0].TriggeredBy)
			}
			for _, r := range runs {
				e.finalAfter(r.ID, 100*time.Millisecond, time.Second*20)
			}
			if tt.want == 0 {
				return
			}

			// Rewind the state: the same fires are due once more.
			e.stop()
			store := e.reopenStore()
			states, err := store.ListScheduleStates(ctx, "minutely")
			if err != nil || len(states) != 1 {
				t.Fatalf("states %v, %v", states, err)
			}
			st := states[0]
			st.LastFire, st.NextFire = mustTime(t, "2026-12-03T10:00:00Z"), mustTime(t, "2026-12-03T10:01:00Z")
			if err := store.PutScheduleState(ctx, st); err != nil {
				t.Fatal(err)
			}
			store.Close()
			e.restart(nil)
			time.Sleep(100 * time.Millisecond)
			e.clk.Advance(time.Second)
			time.Sleep(200 * time.Millisecond)
			if again := e.runsOf("minutely"); len(again) != tt.want {
				t.Errorf("after a restart with the same fires due: %d runs, want still %d", len(again), tt.want)
			}
		})
	}
}

// TestScheduledFireQueuesOverLimit: over MAX_CONCURRENT_RUNS a scheduled
// fire waits as a PENDING run and starts when the slot frees; a manual run
// is still refused.
func TestScheduledFireQueuesOverLimit(t *testing.T) {
	e := newFakeEnv(t, map[string]string{
		"waiter/main.py": "# waits\n",
		"hello/main.py":  "print('hi')\n",
	}, map[string]fake.Program{"waiter": {fake.Print("waiting"), fake.Forever()}}, func(c *Config) { c.MaxConcurrentRuns = 1 })
	ctx := context.Background()
	blocker := e.running(e.startRun(RunRequest{Pipeline: "waiter"}).ID)
	e.commitAndSync("schedule hello", map[string]string{"hello/pipeline.json": `{"schedule": "0 * * * * *"}`})
	var queued status.Run
	e.advanceUntil("a queued scheduled run", time.Second, 2*time.Minute, func() bool {
		for _, r := range e.runsOf("hello") {
			if r.Status == status.RunPending && strings.HasPrefix(r.Message, "queued:") {
				queued = r
				return true
			}
		}
		return false
	})
	if _, err := e.op.RunPipeline(ctx, RunRequest{Pipeline: "hello"}); !errors.Is(err, ErrTooManyRuns) {
		t.Errorf("manual run over the limit: err = %v, want ErrTooManyRuns", err)
	}
	cancel(e, blocker)
	if r := e.finalAfter(queued.ID, 100*time.Millisecond, 20*time.Second); r.Status != status.RunSuccess {
		t.Errorf("queued run ended %s (%s), want SUCCESS", r.Status, r.Message)
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
