package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
)

const (
	// schedulerMaxWait is the longest the scheduler sleeps: it notices a
	// new snapshot (a commit that adds, changes or removes a schedule)
	// within this time without a hook into the sync.
	schedulerMaxWait = time.Second
	// catchupGrace is how late a fire may be and still count as on time. A
	// fire later than that was missed (downtime) and obeys the catchup
	// policy; a short hiccup of the loop or a quick restart is not downtime.
	catchupGrace = 30 * time.Second
	// catchupMax bounds catchup "all": older missed fires are dropped.
	catchupMax = 100
)

// scheduler holds what the scheduler loop knows; only its goroutine touches
// it, except the counters.
type scheduler struct {
	o   *Operator
	clk Clock
	log *slog.Logger

	// snap is the snapshot the entries were built from; a different live
	// snapshot makes the loop rebuild them.
	snap    *repo.Snapshot
	entries []*schedEntry

	// fired and skipped count scheduled fires since start, for tests and
	// metrics: skipped are the Forbid skips.
	fired, skipped atomic.Int64
}

// schedEntry is one schedule of one enabled, valid pipeline.
type schedEntry struct {
	pipeline string
	// id is the schedule's name or, without one, its index: the middle of
	// the fire key.
	id string
	// stateKey identifies the schedule in the store, expression included,
	// so an edited schedule starts afresh.
	stateKey string
	sc       schemas.Schedule
	catchup  schemas.Catchup
	policy   schemas.ConcurrencyPolicy
	// last is the last due time handled (zero: never); next the first due
	// time not handled yet.
	last, next time.Time
}

func newScheduler(o *Operator) *scheduler {
	return &scheduler{o: o, clk: o.clk, log: o.log.With("component", "scheduler")}
}

// run is the loop: each wake it rebuilds the entries if the snapshot
// changed, handles every due fire, starts queued runs that have a slot, and
// sleeps until the earliest next fire, at most schedulerMaxWait.
func (s *scheduler) run(ctx context.Context) {
	t := s.clk.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := s.clk.Now()
		if snap := s.o.Snapshot(); snap != nil && snap != s.snap {
			s.refresh(ctx, snap, now)
		}
		s.fireDue(ctx, now)

		wait := schedulerMaxWait
		now = s.clk.Now()
		for _, e := range s.entries {
			wait = min(wait, e.next.Sub(now))
		}
		t.Reset(max(wait, 0))
	}
}

// fireKey names one fire of one schedule; the store keeps it unique.
func fireKey(pipeline, id string, due time.Time) string {
	return pipeline + ":" + id + ":" + due.UTC().Format(time.RFC3339)
}

// refresh rebuilds the entries from snap. A schedule seen before keeps its
// state; one new to this process resumes from its persisted state (and so
// catches up on fires missed while Fast-Flow was down) or, if it has none,
// starts at now. The states of schedules that no longer fire (removed,
// edited, disabled or invalid pipelines) are deleted, so re-enabling a
// pipeline does not fire its missed past.
func (s *scheduler) refresh(ctx context.Context, snap *repo.Snapshot, now time.Time) {
	prevSnap := s.snap
	s.snap = snap
	old := make(map[[2]string]*schedEntry, len(s.entries))
	for _, e := range s.entries {
		old[[2]string{e.pipeline, e.stateKey}] = e
	}
	states, err := s.o.store.ListScheduleStates(ctx, "")
	if err != nil {
		// Without the states, a restart could fire twice or forget fires:
		// retry on the next wake rather than guess.
		s.log.Error("list schedule states; retrying", "err", err)
		s.snap = prevSnap
		return
	}
	stored := map[[2]string]status.ScheduleState{}
	storedKeys := map[string]map[string]bool{}
	for _, st := range states {
		stored[[2]string{st.Pipeline, st.Key}] = st
		if storedKeys[st.Pipeline] == nil {
			storedKeys[st.Pipeline] = map[string]bool{}
		}
		storedKeys[st.Pipeline][st.Key] = true
	}

	var entries []*schedEntry
	wanted := map[string]map[string]bool{}
	for _, p := range snap.Pipelines {
		if !p.Valid() || !p.Spec.IsEnabled() {
			continue
		}
		for i, sc := range p.Spec.AllSchedules() {
			e := &schedEntry{
				pipeline: p.Name, id: sc.Name, sc: sc,
				catchup: p.Spec.CatchupPolicy(), policy: p.Spec.Concurrency(),
			}
			if e.id == "" {
				e.id = strconv.Itoa(i)
			}
			e.stateKey = e.id + "|" + sc.Cron + "|" + sc.Every + "|" + sc.Timezone
			if prev, ok := old[[2]string{p.Name, e.stateKey}]; ok {
				e.last, e.next = prev.last, prev.next
			} else if st, ok := stored[[2]string{p.Name, e.stateKey}]; ok && !st.NextFire.IsZero() {
				e.last, e.next = st.LastFire, st.NextFire
			} else {
				next, err := NextFire(sc, now)
				if err != nil {
					s.log.Warn("schedule never fires", "pipeline", p.Name, "schedule", e.id, "err", err)
					continue
				}
				e.next = next
				s.persist(ctx, e)
			}
			entries = append(entries, e)
			if wanted[p.Name] == nil {
				wanted[p.Name] = map[string]bool{}
			}
			wanted[p.Name][e.stateKey] = true
		}
	}
	s.entries = entries

	// Forget what no longer fires. The store deletes per pipeline, so a
	// pipeline with a stale key loses all its states and gets the current
	// ones back.
	for name, keys := range storedKeys {
		stale := false
		for k := range keys {
			if !wanted[name][k] {
				stale = true
			}
		}
		if !stale {
			continue
		}
		if err := s.o.store.DeleteScheduleStates(ctx, name); err != nil {
			s.log.Error("delete schedule states", "pipeline", name, "err", err)
			continue
		}
		for _, e := range entries {
			if e.pipeline == name {
				s.persist(ctx, e)
			}
		}
	}
	s.log.Debug("schedules loaded", "revision", snap.ShortRevision(), "schedules", len(entries))
}

// persist writes e's state, so that a restart neither repeats nor forgets.
func (s *scheduler) persist(ctx context.Context, e *schedEntry) {
	err := s.o.store.PutScheduleState(ctx, status.ScheduleState{Pipeline: e.pipeline, Key: e.stateKey, LastFire: e.last, NextFire: e.next})
	if err != nil {
		s.log.Error("record schedule state", "pipeline", e.pipeline, "schedule", e.id, "err", err)
	}
}

// fireDue handles every entry whose next fire is due at now.
func (s *scheduler) fireDue(ctx context.Context, now time.Time) {
	for _, e := range s.entries {
		if e.next.After(now) || ctx.Err() != nil {
			continue
		}
		keep := 1
		if e.catchup == schemas.CatchupAll {
			keep = catchupMax
		}
		dues, dropped, next, err := dueFires(e.sc, e.next, now, keep)
		if err != nil {
			s.log.Error("compute due fires", "pipeline", e.pipeline, "schedule", e.id, "err", err)
			e.next = now.Add(time.Minute) // try again later rather than spin
			continue
		}
		for _, due := range s.pick(e, dues, dropped, now) {
			s.fire(ctx, e, due)
		}
		e.last, e.next = dues[len(dues)-1], next
		s.persist(ctx, e)
	}
}

// pick applies the catchup policy: it returns the due times to fire. Fires
// later than catchupGrace were missed; the newest on-time fire always runs.
func (s *scheduler) pick(e *schedEntry, dues []time.Time, dropped int, now time.Time) []time.Time {
	newest := dues[len(dues)-1]
	onTime := now.Sub(newest) <= catchupGrace
	missed := dropped + len(dues)
	if onTime {
		missed--
	}
	if missed == 0 {
		return dues[len(dues)-1:]
	}
	log := s.log.With("pipeline", e.pipeline, "schedule", e.id, "catchup", string(e.catchup), "missed", missed, "since", dues[0].UTC().Format(time.RFC3339))
	switch e.catchup {
	case schemas.CatchupAll:
		if dropped > 0 {
			log.Warn("missed more fires than catchup runs; dropping the oldest", "dropped", dropped, "max", catchupMax)
		}
		log.Info("missed fires: running each")
		return dues
	case schemas.CatchupNone:
		log.Info("missed fires: skipping them")
		if onTime {
			return dues[len(dues)-1:]
		}
		return nil
	default:
		log.Info("missed fires: running the latest once")
		return dues[len(dues)-1:]
	}
}

// fire starts the run for one due time under the concurrency policy. The
// fire key, the Forbid check and the slot are decided in one store
// transaction, so a restart or a second replica never fires a key twice
// and Forbid never lets two runs of one pipeline through.
func (s *scheduler) fire(ctx context.Context, e *schedEntry, due time.Time) {
	key := fireKey(e.pipeline, e.id, due)
	log := s.log.With("pipeline", e.pipeline, "fire", key)
	if e.policy == schemas.ConcurrencyReplace {
		active, err := s.o.activeRunsOf(ctx, e.pipeline)
		if err != nil {
			log.Error("scheduled fire: list active runs; not firing", "err", err)
			return
		}
		for _, r := range active {
			// The old run ends CANCELLED with the grace period while the
			// new one starts.
			msg := "cancelled: replaced by the scheduled run of " + due.UTC().Format(time.RFC3339) + " (concurrency_policy Replace)"
			if err := s.o.stopRun(ctx, r.ID, stopRequest{reason: endCancelled, message: msg}); err != nil && !errors.Is(err, ErrRunNotActive) {
				log.Warn("replace: cancel previous run", "run", r.ID, "err", err)
			} else {
				log.Info("replace: cancelled previous run", "run", r.ID)
			}
		}
	}
	run, err := s.o.submit(ctx, RunRequest{Pipeline: e.pipeline, Trigger: status.TriggerSchedule, TriggeredBy: key}, submitOptions{
		fire:         &status.Fire{Key: key, Pipeline: e.pipeline, FireAt: due},
		forbidActive: e.policy == schemas.ConcurrencyForbid,
	})
	switch {
	case errors.Is(err, status.ErrConflict):
		log.Debug("fire already claimed (a restart or another replica)")
	case errors.Is(err, errSkipped):
		s.skipped.Add(1)
		log.Info("scheduled fire skipped: previous run still active", "policy", string(e.policy))
	case err != nil:
		log.Error("scheduled fire", "err", err)
	default:
		s.fired.Add(1)
		log.Info("scheduled fire", "run", run.ID, "queued", !run.Admitted, "delay", s.clk.Now().Sub(due))
	}
}

// activeRunsOf lists the PENDING and RUNNING runs of a pipeline, queued ones
// included, as the store knows them (so runs of a previous process or
// another replica count too).
func (o *Operator) activeRunsOf(ctx context.Context, pipeline string) ([]status.Run, error) {
	page, err := o.store.ListRuns(ctx, status.RunFilter{Pipeline: pipeline, Statuses: []status.RunStatus{status.RunPending, status.RunRunning}, Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("list active runs of %s: %w", pipeline, err)
	}
	return page.Runs, nil
}

// stopRemoved stops the runs, queued and running, of pipelines that the
// new snapshot no longer has, with a message naming the commit.
func (o *Operator) stopRemoved(ctx context.Context, prev, next *repo.Snapshot) {
	for _, p := range prev.Pipelines {
		if _, ok := next.Pipeline(p.Name); ok {
			continue
		}
		runs, err := o.activeRunsOf(ctx, p.Name)
		if err != nil {
			o.log.Error("stop runs of removed pipeline", "pipeline", p.Name, "err", err)
			continue
		}
		msg := fmt.Sprintf("cancelled: pipeline %s was removed from the repository by commit %s", p.Name, next.ShortRevision())
		for _, r := range runs {
			if err := o.stopRun(ctx, r.ID, stopRequest{reason: endRemoved, message: msg}); err != nil && !errors.Is(err, ErrRunNotActive) {
				o.log.Warn("stop run of removed pipeline", "run", r.ID, "err", err)
				continue
			}
			o.log.Info("stopping run of a removed pipeline", "run", r.ID, "pipeline", p.Name, "commit", next.ShortRevision())
		}
	}
}
