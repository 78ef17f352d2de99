package telemetry

import (
	"context"

	"github.com/fastflow-dev/fastflow/status"
)

// observedStore is a status.Store that reports the writes the operator
// makes to Telemetry: a run set RUNNING, a run finished, a fire claimed, a
// sync recorded. Everything else passes through unchanged.
type observedStore struct {
	status.Store
	t *Telemetry
}

// WrapStore returns s with its run, fire and sync writes counted. Give the
// wrapped store to the operator; counting happens only after a write
// succeeded, so a retried write is counted once.
func (t *Telemetry) WrapStore(s status.Store) status.Store {
	return &observedStore{Store: s, t: t}
}

func (s *observedStore) UpdateRun(ctx context.Context, r status.Run) error {
	var was status.RunStatus
	if r.Status == status.RunRunning {
		// Only the first write of RUNNING counts as a start: the operator
		// updates a running run again (container ID, setup figures).
		if cur, err := s.Store.GetRun(ctx, r.ID); err == nil {
			was = cur.Status
		}
	}
	if err := s.Store.UpdateRun(ctx, r); err != nil {
		return err
	}
	if r.Status == status.RunRunning && was != status.RunRunning {
		s.t.RunStarted(r)
	}
	return nil
}

func (s *observedStore) TransitionRun(ctx context.Context, r status.Run, from ...status.RunStatus) (bool, error) {
	changed, err := s.Store.TransitionRun(ctx, r, from...)
	if err == nil && changed {
		s.observeTransition(r)
	}
	return changed, err
}

func (s *observedStore) FinishRun(ctx context.Context, r status.Run, from ...status.RunStatus) (bool, error) {
	changed, err := s.Store.FinishRun(ctx, r, from...)
	if err == nil && changed {
		s.observeTransition(r)
	}
	return changed, err
}

func (s *observedStore) observeTransition(r status.Run) {
	switch r.Status {
	case status.RunRunning:
		s.t.RunStarted(r)
	case status.RunSuccess, status.RunFailed, status.RunCancelled, status.RunTimeout, status.RunInterrupted:
		s.t.RunFinished(r)
	}
}

func (s *observedStore) RecordFire(ctx context.Context, f status.Fire) error {
	if err := s.Store.RecordFire(ctx, f); err != nil {
		return err
	}
	s.t.Fired(f)
	return nil
}

func (s *observedStore) RecordSync(ctx context.Context, ev status.SyncEvent) (int64, error) {
	id, err := s.Store.RecordSync(ctx, ev)
	// A sync happened whether or not its row could be written.
	s.t.Synced(ev)
	return id, err
}
