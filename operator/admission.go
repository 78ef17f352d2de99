package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status"
)

// queuePoll is the longest the dispatcher sleeps with runs queued: a slot
// freed by another process sharing the database is noticed within it.
const queuePoll = 5 * time.Second

// admission decides which runs start. The decision itself (global limit,
// FIFO queue, a schedule's Forbid policy, the fire claim) is one store
// transaction, so it holds for every process on the database; admission
// keeps what only this process has: the runners it supervises, whether it
// takes new runs, and the dispatcher's wake-up.
type admission struct {
	store status.AdmissionStore
	limit int

	// kick holds at most one pending wake-up of the dispatcher: a run was
	// queued or a slot was freed.
	kick chan struct{}
	// released gets a value (dropped when full) whenever a runner ends,
	// for a shutdown waiting for runners to stop.
	released chan struct{}
	// queued is the queue length the dispatcher saw last, for /metrics.
	queued atomic.Int64

	mu        sync.Mutex
	accepting bool
	active    map[string]*runner
}

func newAdmission(store status.AdmissionStore, limit int) *admission {
	return &admission{
		store: store, limit: limit,
		kick: make(chan struct{}, 1), released: make(chan struct{}, 1),
		active: map[string]*runner{},
	}
}

// wake asks the dispatcher to look at the queue soon.
func (a *admission) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// register records r as supervised here. It fails when the operator does
// not take runs (starting or shutting down), unless adopted: a run found
// at startup already runs, and refusing it would not stop it.
func (a *admission) register(r *runner, adopted bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.accepting && !adopted {
		return false
	}
	a.active[r.run.ID] = r
	return true
}

// release forgets a runner whose run ended and wakes the dispatcher: its
// slot is free.
func (a *admission) release(id string) {
	a.mu.Lock()
	delete(a.active, id)
	a.mu.Unlock()
	a.wake()
	select {
	case a.released <- struct{}{}:
	default:
	}
}

func (a *admission) lookup(id string) *runner {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active[id]
}

func (a *admission) setAccepting(on bool) {
	a.mu.Lock()
	a.accepting = on
	a.mu.Unlock()
}

func (a *admission) isAccepting() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepting
}

// runners lists the supervised runners.
func (a *admission) runners() []*runner {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Collect(maps.Values(a.active))
}

// ids returns the IDs of the supervised runs.
func (a *admission) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Collect(maps.Keys(a.active))
}

func (a *admission) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.active)
}

// ActiveRuns is how many runs this operator supervises now.
func (o *Operator) ActiveRuns() int { return o.adm.count() }

// QueuedRuns is how many runs wait for a slot, as the dispatcher saw last.
func (o *Operator) QueuedRuns() int { return int(o.adm.queued.Load()) }

// supervise starts the runner's goroutine, owned by runWG. A runner that
// cannot be registered (the operator is shutting down) is ended
// INTERRUPTED at once instead: nobody would supervise it. adopted runners
// (found running at startup) are always taken.
func (o *Operator) supervise(r *runner, adopted bool) {
	if !o.adm.register(r, adopted) {
		r.finish(context.WithoutCancel(o.runCtx), outcome{status: status.RunInterrupted, message: "interrupted: Fast-Flow shut down before the run started"})
		// submit opened the live log for the runner that now never
		// runs; left open, it would be held for good.
		o.logHubs.Close(r.run.ID)
		return
	}
	o.runWG.Go(func() {
		defer o.adm.release(r.run.ID)
		r.live(o.runCtx)
	})
}

// dispatch starts queued runs as slots free, until ctx ends: woken by a
// release or a queued run, at a queued run's not-before time, and at least
// every queuePoll while runs wait.
func (o *Operator) dispatch(ctx context.Context) {
	t := o.clk.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.adm.kick:
		case <-t.C():
		}
		t.Reset(o.dispatchOnce(ctx))
	}
}

// dispatchOnce claims what the queue can start now, starts it, and returns
// how long to sleep before looking again.
func (o *Operator) dispatchOnce(ctx context.Context) time.Duration {
	if !o.adm.isAccepting() {
		return queuePoll
	}
	claimed, err := o.store.ClaimQueued(ctx, o.adm.limit, o.now())
	if err != nil {
		if ctx.Err() == nil {
			o.log.Error("claim queued runs", "err", err)
		}
		return time.Second
	}
	for _, run := range claimed {
		o.startClaimed(ctx, run)
	}
	n, next, err := o.store.QueueState(ctx, o.now())
	if err != nil {
		return time.Second
	}
	o.adm.queued.Store(int64(n))
	switch {
	case n == 0:
		return time.Hour // a queued run or a release wakes the dispatcher
	case !next.IsZero():
		return min(max(next.Sub(o.now()), 0), queuePoll)
	default:
		return queuePoll
	}
}

// startClaimed starts a run the queue admitted, with the pipeline as it was
// at the run's revision. A run that can no longer start (its revision or
// secret is gone) is ended with a message saying why.
func (o *Operator) startClaimed(ctx context.Context, run status.Run) {
	log := o.log.With("run", run.ID, "pipeline", run.Pipeline)
	fail := func(st status.RunStatus, msg string) {
		run.Status, run.Message, run.FinishedAt = st, msg, o.now()
		if _, err := o.storeFinal(ctx, log, run, status.RunPending); err != nil {
			log.Error("end queued run", "err", err)
		}
	}
	snap, err := o.syncer.Revision(ctx, run.Revision)
	if err != nil {
		fail(status.RunInterrupted, "interrupted: the run's revision "+repo.ShortSHA(run.Revision)+" is no longer on disk")
		return
	}
	p, ok := snap.Pipeline(run.Pipeline)
	if !ok || !p.Valid() {
		fail(status.RunInterrupted, "interrupted: the pipeline is not valid at revision "+repo.ShortSHA(run.Revision))
		return
	}
	secretVals, err := o.secretsFor(ctx, p)
	if err != nil {
		fail(status.RunInterrupted, "interrupted: "+err.Error())
		return
	}
	env := mergeEnv(p, secretVals, run.Parameters, run.RequestEnv)
	log.Info("starting queued run", "trigger", run.Trigger)
	// The queue's message was for the queue; the runner writes the
	// record from here on, as this replica's run: it executes it here.
	run.Message, run.Replica = "", o.cfg.Replica.ID
	o.supervise(o.newRunner(run, p, env, slices.Collect(maps.Values(secretVals))), false)
}

// mergeEnv merges what a run's container gets: default_env < secrets <
// parameters < the request's env, the most specific winning.
func mergeEnv(p repo.Pipeline, secrets, params, requestEnv map[string]string) map[string]string {
	env := map[string]string{}
	maps.Copy(env, p.Spec.DefaultEnv)
	maps.Copy(env, secrets)
	maps.Copy(env, params)
	maps.Copy(env, requestEnv)
	return env
}

// queueRetry queues the next attempt of a failed run, not before
// retry_delay (doubled per attempt) from now, if retry_attempts allows one.
// The retry is a queued run in the store, so it survives a restart; it
// runs the live revision's pipeline, with the failed run's parameters.
func (o *Operator) queueRetry(ctx context.Context, log *slog.Logger, run status.Run, p repo.Pipeline) {
	pol := o.PolicyFor(p.Spec)
	if run.Attempt > pol.RetryAttempts {
		return
	}
	delay := retryDelay(pol.RetryDelay, run.Attempt)
	req := RunRequest{
		Pipeline: run.Pipeline, Parameters: paramsAny(run.Parameters), Env: run.RequestEnv,
		Trigger: status.TriggerRetry, TriggeredBy: run.TriggeredBy,
		RetryOf: run.ID, Attempt: run.Attempt + 1, Queue: true,
	}
	var err error
	for attempt := range 5 {
		if attempt > 0 && !sleep(ctx, o.clk, backoff(attempt, 5*time.Second)) {
			break
		}
		var next status.Run
		next, err = o.submit(context.WithoutCancel(ctx), req, submitOptions{notBefore: o.now().Add(delay)})
		if err == nil {
			log.Info("retry queued", "retry", next.ID, "attempt", req.Attempt, "of", pol.RetryAttempts+1, "in", delay)
			return
		}
		if !errors.Is(err, ErrRuntimeUnavailable) && !isStoreTrouble(err) {
			break
		}
	}
	log.Error("retry not queued", "attempt", req.Attempt, "err", err)
}

// isStoreTrouble tells a store that failed from a refusal with a reason
// (a pipeline gone, bad parameters): only the first is worth retrying.
func isStoreTrouble(err error) bool {
	for _, refusal := range []error{ErrPipelineNotFound, ErrPipelineInvalid, ErrPipelineDisabled, ErrMissingSecret, ErrNotAccepting} {
		if errors.Is(err, refusal) {
			return false
		}
	}
	var pe *ParamError
	return !errors.As(err, &pe)
}

func paramsAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// queuedMessage is the status message of a run waiting in the queue.
func queuedMessage(limit int, notBefore time.Time) string {
	if !notBefore.IsZero() {
		return fmt.Sprintf("queued: retry waiting until %s", notBefore.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("queued: waiting for a free slot (MAX_CONCURRENT_RUNS=%d)", limit)
}
