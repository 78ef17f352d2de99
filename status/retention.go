package status

import (
	"context"
	"time"
)

// RetentionStore selects the runs retention may touch and records what it
// did. Selection and marking are separate, short calls in bounded
// batches: the caller removes a batch's files between them, and no call
// holds a write lock for longer than one batch's UPDATE or DELETE.
//
// Which runs are due (RunsDue): finished runs of one pipeline that are
// older than its KeepRuns newest runs or were queued before Before. Never
// due are runs that are PENDING or RUNNING, the pipeline's newest run, and
// a run retried by a run that is not due itself, so the due runs of a
// retry chain are always its oldest ones: a chain is shortened from its
// start and never cut in its middle.
type RetentionStore interface {
	// RunsDue returns up to q.Limit due runs of q.Pipeline, oldest first.
	// With q.Rows false only runs that still have a log or metrics file
	// and were not marked removed are returned (the files sweep); with
	// q.Rows true every due run is (the rows sweep, RUN_HISTORY_DAYS).
	// An empty q.Pipeline selects the due runs of every pipeline, oldest
	// first, for a rule that is the same for all: Before alone (KeepRuns
	// counts per pipeline and needs one; ErrInvalidArgument otherwise).
	RunsDue(ctx context.Context, q RetentionQuery) ([]Run, error)
	// MarkLogsRemoved clears LogPath and MetricsPath of the finished runs
	// ids and sets LogRemovedAt and LogRemovedReason, in one statement. It
	// returns how many runs it marked; an unknown or active run is passed
	// over.
	MarkLogsRemoved(ctx context.Context, ids []string, at time.Time, reason string) (int64, error)
	// DeleteRuns deletes the finished runs ids with the schedule fires
	// that started them, in one transaction, and returns how many runs
	// went. Retries of a deleted run keep their rows with RetryOf empty.
	DeleteRuns(ctx context.Context, ids []string) (int64, error)
	// DeleteRecordsBefore deletes up to limit schedule-fire records that
	// started no run still stored and up to limit webhook-delivery
	// records, all created before t, and returns how many went.
	DeleteRecordsBefore(ctx context.Context, t time.Time, limit int) (int64, error)
}

// RetentionQuery is what RunsDue selects. A zero KeepRuns and a zero
// Before select nothing.
type RetentionQuery struct {
	// Pipeline names the pipeline; empty is every pipeline, with Before
	// as the only rule.
	Pipeline string
	// KeepRuns keeps the files (or rows) of this many newest runs.
	KeepRuns int
	// Before makes every run queued before it due.
	Before time.Time
	// Rows selects runs whose rows may go rather than their files.
	Rows bool
	// Limit bounds the batch: <= 0 means 500, more than 5000 means 5000.
	Limit int
}
