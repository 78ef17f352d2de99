package operator

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status"
)

// runQueue holds scheduled runs that found MAX_CONCURRENT_RUNS taken. Each
// is recorded PENDING without a container; release starts the oldest when a
// slot frees. Its fields are guarded by Operator.runMu, so a slot is handed
// to the queue in the same critical section that frees it and a manual run
// cannot take it in between.
type runQueue struct {
	runs []runPlan
}

func (o *Operator) queueOf() *runQueue { return &o.queue }

// queuedLocked is the queue; runMu must be held.
func (o *Operator) queuedLocked() []runPlan { return o.queue.runs }

// QueuedRuns is how many scheduled runs wait for a slot.
func (o *Operator) QueuedRuns() int {
	o.runMu.Lock()
	defer o.runMu.Unlock()
	return len(o.queuedLocked())
}

// enqueueLocked appends plan; runMu must be held.
func (o *Operator) enqueueLocked(plan runPlan) {
	q := o.queueOf()
	q.runs = append(q.runs, plan)
}

// dequeueLocked takes the oldest queued run if a slot is free and
// registers it as active; runMu must be held.
func (o *Operator) dequeueLocked() (*activeRun, runPlan, bool) {
	if !o.accepting || len(o.queuedLocked()) == 0 || len(o.active) >= o.cfg.MaxConcurrentRuns {
		return nil, runPlan{}, false
	}
	q := o.queueOf()
	plan := q.runs[0]
	q.runs[0] = runPlan{}
	q.runs = q.runs[1:]
	ar := &activeRun{id: plan.run.ID, stop: make(chan endReason, 1)}
	o.active[ar.id] = ar
	return ar, plan, true
}

// drainQueue starts queued runs while slots are free. release does this
// for each freed slot; the scheduler calls it too, for runs re-queued at
// startup before the operator accepted runs.
func (o *Operator) drainQueue() {
	for {
		o.runMu.Lock()
		ar, plan, ok := o.dequeueLocked()
		o.runMu.Unlock()
		if !ok {
			return
		}
		o.startQueued(ar, plan)
	}
}

func (o *Operator) startQueued(ar *activeRun, plan runPlan) {
	o.log.Info("starting queued run", "run", plan.run.ID, "pipeline", plan.run.Pipeline)
	// The waiting message was for the queue; the supervisor writes the
	// record from here on.
	plan.run.Message = ""
	o.startSupervisor(ar, plan)
}

// cancelQueued takes a queued run out of the queue and records it
// CANCELLED with msg. It reports false if the run was not queued here.
func (o *Operator) cancelQueued(ctx context.Context, id, msg string) bool {
	o.runMu.Lock()
	i := slices.IndexFunc(o.queuedLocked(), func(p runPlan) bool { return p.run.ID == id })
	var plan runPlan
	if i >= 0 {
		q := o.queueOf()
		plan = q.runs[i]
		q.runs = slices.Delete(q.runs, i, i+1)
	}
	o.runMu.Unlock()
	if i < 0 {
		return false
	}
	run := plan.run
	o.finish(ctx, o.log.With("run", id, "pipeline", run.Pipeline), &run, outcome{status: status.RunCancelled, message: msg}, nil)
	return true
}

// Requeue puts a scheduled run that a previous process queued (PENDING,
// trigger schedule, no container) back in the queue, with the pipeline as
// it was at the run's revision. Startup reconciliation calls it before the
// operator accepts runs; runs are kept in the order requeued, so requeue
// them oldest first. It reports false when the run cannot be requeued
// (another trigger, or its revision or pipeline is gone); the caller then
// finalizes it as before.
func (o *Operator) Requeue(ctx context.Context, run status.Run) bool {
	if run.Trigger != status.TriggerSchedule || run.Status != status.RunPending || run.ContainerID != "" {
		return false
	}
	snap, err := o.syncer.Revision(ctx, run.Revision)
	if err != nil {
		o.log.Warn("requeue: the run's revision is gone", "run", run.ID, "revision", repo.ShortSHA(run.Revision), "err", err)
		return false
	}
	p, ok := snap.Pipeline(run.Pipeline)
	if !ok || !p.Valid() {
		return false
	}
	secrets, err := o.secretsFor(ctx, p)
	if err != nil {
		o.log.Warn("requeue: secrets", "run", run.ID, "err", err)
		return false
	}
	env := map[string]string{}
	maps.Copy(env, p.Spec.DefaultEnv)
	maps.Copy(env, secrets)
	maps.Copy(env, run.Parameters)
	plan := runPlan{run: run, pipeline: p, revisionDir: snap.Dir, env: env, secrets: slices.Collect(maps.Values(secrets))}
	o.runMu.Lock()
	o.enqueueLocked(plan)
	o.runMu.Unlock()
	o.log.Info("requeued scheduled run", "run", run.ID, "pipeline", run.Pipeline)
	return true
}

// queuedMessage is the status message of a run waiting in the queue.
func queuedMessage(max int) string {
	return fmt.Sprintf("queued: waiting for a free slot (MAX_CONCURRENT_RUNS=%d)", max)
}
