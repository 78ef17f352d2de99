package operator

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// reconcile matches the run containers on the runtime against the runs the
// store says are PENDING or RUNNING, after a restart or a crash:
//
//   - a container that still runs is re-attached: its log resumes after
//     the last stored line, its timeout keeps counting from its start;
//   - a container that exited is finalized from its exit status and the
//     rest of its log;
//   - a queued run keeps its place in the queue;
//   - a run that held a slot but has no container becomes INTERRUPTED;
//   - a labelled container without an active run is stopped and removed;
//   - a run another replica executes is left to it.
//
// If the runtime cannot be listed, nothing is changed: a daemon that is
// down says nothing about whether the runs are still going.
func (o *Operator) reconcile(ctx context.Context) {
	start := time.Now()
	containers, err := o.rt.List(ctx, o.ownLabels())
	if err != nil {
		o.log.Error("reconcile: list containers; runs keep their recorded status until the next start", "err", err)
		return
	}
	byRun := make(map[string]runtime.Container, len(containers))
	for _, c := range containers {
		byRun[c.RunID] = c
	}
	runs, err := activeRecords(ctx, o.store)
	if err != nil {
		o.log.Error("reconcile: list active runs", "err", err)
		return
	}

	reattached, finalized := 0, 0
	for _, run := range runs {
		c, ok := byRun[run.ID]
		delete(byRun, run.ID)
		if run.Replica != "" && run.Replica != o.cfg.Replica.ID {
			// Another replica executes it (on its own container host, or
			// on this one beside us): it re-attaches it itself, and the
			// leader settles it if that replica stays away.
			continue
		}
		log := o.log.With("run", run.ID, "pipeline", run.Pipeline)
		if !ok {
			if run.Status == status.RunPending && !run.Admitted {
				continue // queued: it keeps its place, the dispatcher starts it
			}
			msg := "interrupted: its container is gone (Fast-Flow restarted before it started, or it was removed)"
			if run.Status == status.RunPending {
				msg = "interrupted: Fast-Flow restarted before the container started"
			}
			run.Status, run.Message, run.FinishedAt = status.RunInterrupted, msg, o.now()
			if _, err := o.storeFinal(ctx, log, run, status.RunPending, status.RunRunning); err != nil {
				log.Error("reconcile: record interrupted run", "err", err)
			}
			finalized++
			continue
		}
		run.Replica = o.cfg.Replica.ID // a run from before replicas were recorded becomes ours
		p := o.pipelineAt(ctx, run)
		secretVals, err := o.secretsFor(ctx, p)
		if err != nil {
			// The log was masked with them before; without them the
			// rest of the log could show a secret. Stop the run.
			log.Error("reconcile: secrets of a re-attached run; stopping it", "err", err)
		}
		r := o.newRunner(run, p, nil, slices.Collect(maps.Values(secretVals)))
		if err != nil {
			r.requestStop(stopRequest{reason: endCancelled, message: "cancelled: its secrets could not be read after a restart: " + err.Error()})
		}
		r.containerID = c.ID
		if last, _, err := logs.LastLine(run.LogPath); err == nil {
			r.last = last
		} else if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("reconcile: read last log line; resuming from the start", "err", err)
		}
		if run.Status == status.RunPending {
			// Started, but the record never said so: the process died
			// between creating the container and writing RUNNING.
			r.run.Status = status.RunRunning
			r.run.Admitted = true
			r.run.ContainerID = c.ID
			r.run.StartedAt = o.now()
			if err := o.store.UpdateRun(ctx, r.run); err != nil {
				log.Error("reconcile: record run start", "err", err)
			}
		}
		log.Info("reconcile: re-attaching", "container", repo.ShortSHA(c.ID), "state", c.State)
		o.supervise(r, true)
		reattached++
	}

	orphans := 0
	for runID, c := range byRun {
		o.log.Warn("reconcile: removing a labelled container no active run owns", "run", runID, "container", repo.ShortSHA(c.ID), "state", c.State)
		if err := o.rt.Remove(ctx, c.ID); err != nil {
			o.log.Error("reconcile: remove orphan container", "container", repo.ShortSHA(c.ID), "err", err)
		}
		orphans++
	}
	if reattached+finalized+orphans > 0 {
		o.log.Info("reconciled runs after start", "reattached", reattached, "interrupted", finalized, "orphans_removed", orphans, "took", time.Since(start))
	}
}

// activeRecords lists every PENDING or RUNNING run, across pages.
func activeRecords(ctx context.Context, store status.RunStore) ([]status.Run, error) {
	var out []status.Run
	f := status.RunFilter{Statuses: []status.RunStatus{status.RunPending, status.RunRunning}, Order: status.OrderAsc, Limit: 1000}
	for {
		page, err := store.ListRuns(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Runs...)
		if page.NextCursor == "" {
			return out, nil
		}
		f.Cursor = page.NextCursor
	}
}

// pipelineAt finds the pipeline as it was at the run's revision, so a
// re-attached run keeps its own timeout and limits. If that revision is no
// longer on disk, the run is still supervised, with no timeout.
func (o *Operator) pipelineAt(ctx context.Context, run status.Run) repo.Pipeline {
	snap, err := o.syncer.Revision(ctx, run.Revision)
	if err == nil {
		if p, ok := snap.Pipeline(run.Pipeline); ok {
			return p
		}
	}
	o.log.Warn("reconcile: the run's revision is gone; supervising it without its pipeline.json", "run", run.ID, "revision", repo.ShortSHA(run.Revision))
	return repo.Pipeline{Name: run.Pipeline}
}

// ownLabels select the run containers of this installation.
func (o *Operator) ownLabels() map[string]string {
	return map[string]string{runtime.LabelKind: "run", runtime.LabelInstance: o.cfg.Instance}
}
