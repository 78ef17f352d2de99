package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// admissionLockKey is the PostgreSQL advisory lock AdmitRun and ClaimQueued
// hold until their transaction ends. READ COMMITTED lets two transactions
// count the same free slot and both take it; the lock makes every decision
// that fills a slot wait for the one before it, on every replica, while
// the runs themselves stay readable and writable. The value is the bytes
// of "ffadmit" and only has to differ from the other advisory locks on the
// database (goose's migration lock).
const admissionLockKey int64 = 0x6666_6164_6d69_7400

// The WHERE clauses of admission, shared by the queries and their plan
// test. The queue and the slot count both run on runs_status_queued; see
// migrations/*/00002_admission.sql for why they have no index of their own.
const (
	slotHolders = `(status = 'RUNNING' OR (status = 'PENDING' AND admitted))`
	queuedRuns  = `status = 'PENDING' AND NOT admitted`
	// eligibleAt takes now: a queued run without not_before may start at once.
	eligibleAt = `(not_before IS NULL OR not_before <= ?)`
)

// lockAdmission serialises the admission decisions of tx with every other
// one on the database; see admissionLockKey. On SQLite the transaction
// already holds the database's write lock.
func (s *Store) lockAdmission(ctx context.Context, tx *sql.Tx) error {
	if !s.d.postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, admissionLockKey); err != nil {
		return fmt.Errorf("admission lock: %w", err)
	}
	return nil
}

// AdmitRun implements status.AdmissionStore.
func (s *Store) AdmitRun(ctx context.Context, r status.Run, a status.Admission) (status.Run, status.AdmitResult, error) {
	if a.Limit <= 0 {
		return status.Run{}, 0, fmt.Errorf("admit run: %w: limit %d is not positive", status.ErrInvalidArgument, a.Limit)
	}
	if r.Status != "" && r.Status != status.RunPending {
		return status.Run{}, 0, fmt.Errorf("admit run: %w: status %q, want PENDING", status.ErrInvalidArgument, r.Status)
	}
	if a.Fire != nil {
		if err := checkFire(*a.Fire); err != nil {
			return status.Run{}, 0, fmt.Errorf("admit run: fire: %w", err)
		}
	}
	// The store decides whether the run holds a slot, not the caller.
	r.Admitted = false
	r, err := s.newRun(r)
	if err != nil {
		return status.Run{}, 0, fmt.Errorf("admit run: %w", err)
	}
	now := a.Now
	if now.IsZero() {
		now = s.now()
	}

	var res status.AdmitResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAdmission(ctx, tx); err != nil {
			return err
		}
		if a.ForbidActive {
			active, err := s.pipelineActive(ctx, tx, r.Pipeline)
			if err != nil {
				return err
			}
			if active {
				res = status.AdmitSkipped
				// The fire is spent even though nothing runs, so that
				// another replica does not start it once the active run
				// has ended.
				return s.claimFire(ctx, tx, a.Fire, "")
			}
		}
		if err := s.claimFire(ctx, tx, a.Fire, r.ID); err != nil {
			return err
		}
		why, err := s.mustWait(ctx, tx, r, a.Limit, now)
		if err != nil {
			return err
		}
		switch {
		case why == "":
			r.Admitted, res = true, status.AdmitStarted
		case a.Queue:
			res = status.AdmitQueued
		default:
			return fmt.Errorf("%w: %s", status.ErrLimit, why)
		}
		return s.insertRun(ctx, tx, r)
	})
	if err != nil {
		return status.Run{}, 0, fmt.Errorf("admit run %s of %s: %w", r.ID, r.Pipeline, err)
	}
	if res == status.AdmitSkipped {
		return status.Run{}, res, nil
	}
	return r, res, nil
}

// claimFire records f, when set, for the run runID ("" for a skipped fire).
func (s *Store) claimFire(ctx context.Context, tx *sql.Tx, f *status.Fire, runID string) error {
	if f == nil {
		return nil
	}
	claim := *f
	claim.RunID = runID
	return s.recordFire(ctx, tx, claim)
}

// pipelineActive reports whether pipeline has a PENDING or RUNNING run,
// queued ones included.
func (s *Store) pipelineActive(ctx context.Context, c conn, pipeline string) (bool, error) {
	var one int
	err := s.queryRowOn(ctx, c, `SELECT 1 FROM runs
		WHERE pipeline = ? AND status IN ('PENDING', 'RUNNING') LIMIT 1`, pipeline).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("active runs of %s: %w", pipeline, err)
	}
	return true, nil
}

// mustWait says why r may not take a slot now, or "" when it may.
func (s *Store) mustWait(ctx context.Context, c conn, r status.Run, limit int, now time.Time) (string, error) {
	if r.NotBefore.After(now) {
		return fmt.Sprintf("run may not start before %s", r.NotBefore.Format(time.RFC3339)), nil
	}
	held, err := s.countSlots(ctx, c)
	if err != nil {
		return "", err
	}
	if held >= limit {
		return fmt.Sprintf("%d of %d slots taken", held, limit), nil
	}
	// A free slot belongs to the oldest eligible queued run; a newcomer
	// taking it would starve the queue.
	var one int
	err = s.queryRowOn(ctx, c, `SELECT 1 FROM runs WHERE `+queuedRuns+` AND `+eligibleAt+`
		AND (queued_at, id) < (?, ?) LIMIT 1`,
		s.d.timeArg(now), s.d.timeArg(r.QueuedAt), r.ID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("queued runs: %w", err)
	}
	return "a queued run is ahead", nil
}

// countSlots counts the runs holding a slot.
func (s *Store) countSlots(ctx context.Context, c conn) (int, error) {
	var n int
	if err := s.queryRowOn(ctx, c, `SELECT COUNT(*) FROM runs WHERE `+slotHolders).Scan(&n); err != nil {
		return 0, fmt.Errorf("count slots: %w", err)
	}
	return n, nil
}

// ClaimQueued implements status.AdmissionStore.
func (s *Store) ClaimQueued(ctx context.Context, limit int, now time.Time) ([]status.Run, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim queued: %w: limit %d is not positive", status.ErrInvalidArgument, limit)
	}
	if now.IsZero() {
		now = s.now()
	}
	var claimed []status.Run
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAdmission(ctx, tx); err != nil {
			return err
		}
		held, err := s.countSlots(ctx, tx)
		if err != nil {
			return err
		}
		if held >= limit {
			return nil
		}
		runs, err := s.eligibleQueued(ctx, tx, now, limit-held)
		if err != nil || len(runs) == 0 {
			return err
		}
		args := make([]any, 0, len(runs))
		for _, r := range runs {
			args = append(args, r.ID)
		}
		res, err := s.execOn(ctx, tx, `UPDATE runs SET admitted = TRUE
			WHERE id IN (`+placeholders(len(args))+`) AND `+queuedRuns, args...)
		if err != nil {
			return fmt.Errorf("admit: %w", err)
		}
		// The rows are locked (PostgreSQL) or the database is (SQLite):
		// each selected run is still queued.
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("admit: rows affected: %w", err)
		}
		if n != int64(len(runs)) {
			return fmt.Errorf("admit: %d of %d queued runs changed", n, len(runs))
		}
		for i := range runs {
			runs[i].Admitted = true
		}
		claimed = runs
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim queued: %w", err)
	}
	return claimed, nil
}

// eligibleQueued returns up to n queued runs that may start at now, oldest
// first, locked for the transaction on PostgreSQL.
func (s *Store) eligibleQueued(ctx context.Context, c conn, now time.Time, n int) ([]status.Run, error) {
	rows, err := s.queryOn(ctx, c, `SELECT `+runColumns+` FROM runs
		WHERE `+queuedRuns+` AND `+eligibleAt+`
		ORDER BY queued_at, id LIMIT ?`+s.d.skipLocked(), s.d.timeArg(now), n)
	if err != nil {
		return nil, fmt.Errorf("queued runs: %w", err)
	}
	defer rows.Close()
	var runs []status.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("queued runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queued runs: %w", err)
	}
	return runs, nil
}

// QueueState implements status.AdmissionStore.
func (s *Store) QueueState(ctx context.Context, now time.Time) (int, time.Time, error) {
	if now.IsZero() {
		now = s.now()
	}
	var (
		n    int
		next time.Time
	)
	err := s.queryRow(ctx, `SELECT COUNT(*), MIN(CASE WHEN not_before > ? THEN not_before END)
		FROM runs WHERE `+queuedRuns, s.d.timeArg(now)).Scan(&n, scanTime(&next))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("queue state: %w", err)
	}
	return n, next, nil
}

// CancelQueued implements status.AdmissionStore.
func (s *Store) CancelQueued(ctx context.Context, r status.Run) (bool, error) {
	if r.ID == "" {
		return false, fmt.Errorf("cancel queued run: %w: run without id", status.ErrInvalidArgument)
	}
	if !r.Status.Final() {
		return false, fmt.Errorf("cancel queued run %s: %w: status %q is not final", r.ID, status.ErrInvalidArgument, r.Status)
	}
	finished := r.FinishedAt
	if finished.IsZero() {
		finished = s.now()
	}
	var cancelled bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The guard in the WHERE is what makes this safe against a
		// concurrent ClaimQueued: PostgreSQL re-checks it on the row's
		// newest version after waiting for the claimer's lock.
		var pipeline string
		err := s.queryRowOn(ctx, tx, `UPDATE runs SET status = ?, message = ?, finished_at = ?
			WHERE id = ? AND `+queuedRuns+` RETURNING pipeline`,
			string(r.Status), r.Message, s.d.timeArg(finished), r.ID).Scan(&pipeline)
		if errors.Is(err, sql.ErrNoRows) {
			return s.runExists(ctx, tx, r.ID)
		}
		if err != nil {
			return classify(err)
		}
		cancelled = true
		return s.incrementCounters(ctx, tx, pipeline, r.Status)
	})
	if err != nil {
		return false, fmt.Errorf("cancel queued run %s: %w", r.ID, err)
	}
	return cancelled, nil
}

// FinishRun implements status.AdmissionStore.
func (s *Store) FinishRun(ctx context.Context, r status.Run, from ...status.RunStatus) (bool, error) {
	if !r.Status.Final() {
		return false, fmt.Errorf("finish run %s: %w: status %q is not final", r.ID, status.ErrInvalidArgument, r.Status)
	}
	var finished bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		pipeline, changed, err := s.transitionRun(ctx, tx, r, from)
		if err != nil || !changed {
			return err
		}
		finished = true
		return s.incrementCounters(ctx, tx, pipeline, r.Status)
	})
	if err != nil {
		return false, fmt.Errorf("finish run %s: %w", r.ID, err)
	}
	return finished, nil
}
