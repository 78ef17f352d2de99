package status

import "time"

// The outcomes of a sync.
const (
	SyncUpdated   = "updated"
	SyncUnchanged = "unchanged"
	SyncFailed    = "failed"
)

// SyncEvent records one sync of the pipelines repository. Outcome is one of
// SyncUpdated, SyncUnchanged or SyncFailed; Error is set when it failed.
type SyncEvent struct {
	ID            int64
	Trigger       string
	StartedAt     time.Time
	FinishedAt    time.Time
	Revision      string
	Branch        string
	CommitMessage string
	Outcome       string
	Pipelines     int
	Problems      int
	Error         string
}
