package status

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// RunStatus is the state of a run; see DESIGN.md "Run record and statuses".
type RunStatus string

// The run statuses. PENDING and RUNNING are active; the rest are final.
const (
	RunPending     RunStatus = "PENDING"
	RunRunning     RunStatus = "RUNNING"
	RunSuccess     RunStatus = "SUCCESS"
	RunFailed      RunStatus = "FAILED"
	RunCancelled   RunStatus = "CANCELLED"
	RunTimeout     RunStatus = "TIMEOUT"
	RunInterrupted RunStatus = "INTERRUPTED"
)

// Final reports whether no further transition is expected.
func (s RunStatus) Final() bool {
	switch s {
	case RunSuccess, RunFailed, RunCancelled, RunTimeout, RunInterrupted:
		return true
	}
	return false
}

// Valid reports whether s is one of the known statuses.
func (s RunStatus) Valid() bool {
	return s == RunPending || s == RunRunning || s.Final()
}

// ErrorType says why a FAILED run failed.
type ErrorType string

// The error types a FAILED run carries.
const (
	ErrorExitCode             ErrorType = "EXIT_CODE"
	ErrorOOM                  ErrorType = "OOM"
	ErrorDocker               ErrorType = "DOCKER_ERROR"
	ErrorCommandNotExecutable ErrorType = "COMMAND_NOT_EXECUTABLE"
	ErrorCommandNotFound      ErrorType = "COMMAND_NOT_FOUND"
	ErrorStalled              ErrorType = "STALLED"
	ErrorSetupFailed          ErrorType = "SETUP_FAILED"
	// ErrorUnhealthy: the container's health check failed for longer
	// than HEALTH_GRACE and the operator stopped it.
	ErrorUnhealthy ErrorType = "UNHEALTHY"
)

// Trigger says what started a run.
type Trigger string

// The run triggers.
const (
	TriggerManual   Trigger = "manual"
	TriggerSchedule Trigger = "schedule"
	TriggerRetry    Trigger = "retry"
	TriggerWebhook  Trigger = "webhook"
)

// AllTriggers lists every trigger, in the order pages offer them.
func AllTriggers() []Trigger {
	return []Trigger{TriggerManual, TriggerSchedule, TriggerRetry, TriggerWebhook}
}

// AllStatuses lists every run status, from queued to ended.
func AllStatuses() []RunStatus {
	return []RunStatus{RunPending, RunRunning, RunSuccess, RunFailed, RunCancelled, RunTimeout, RunInterrupted}
}

// Valid reports whether t is one of the triggers.
func (t Trigger) Valid() bool {
	return t == TriggerManual || t == TriggerSchedule || t == TriggerRetry || t == TriggerWebhook
}

// Run is one execution of one pipeline at one revision. Zero values mean
// "not known yet": a zero StartedAt has not started, a nil ExitCode has not
// exited, an empty RetryOf is not a retry.
type Run struct {
	ID          string
	Pipeline    string
	Status      RunStatus
	ErrorType   ErrorType
	ExitCode    *int
	Message     string
	Revision    string
	Trigger     Trigger
	TriggeredBy string
	Attempt     int
	RetryOf     string
	ContainerID string

	// Parameters are the run parameters as injected into the container.
	// Secret values are never part of a run; EnvNames lists the names of
	// every variable the run received.
	Parameters map[string]string
	EnvNames   []string

	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time

	UVVersion         string
	SetupDuration     time.Duration
	PeakCPUPercent    float64
	PeakRAMBytes      int64
	SoftLimitExceeded bool

	LogPath     string
	MetricsPath string

	// Admitted marks a PENDING run that holds a slot (it is starting); a
	// PENDING run without it is queued. RUNNING runs are always admitted.
	Admitted bool
	// NotBefore keeps a queued run from being claimed earlier: a retry
	// waiting out its retry_delay. Zero means at once.
	NotBefore time.Time
	// RequestEnv is the env the run request itself set (not default_env,
	// not secrets), kept so a queued run that starts later, perhaps after
	// a restart, gets it. It is never returned by the API.
	RequestEnv map[string]string
	// LogIncomplete says lines of the run's output may be missing from its
	// stored log (the log stream broke, or the log could not be written);
	// Message says why.
	LogIncomplete bool
	// LogRemovedAt is when retention removed the run's log and metrics
	// files (LogPath and MetricsPath are empty then), and
	// LogRemovedReason which rule did. Zero while the files are kept.
	// Only MarkLogsRemoved sets them: CreateRun ignores them and UpdateRun
	// leaves them as stored.
	LogRemovedAt     time.Time
	LogRemovedReason string
	// Replica is the replica that executes the run (that admitted it, or
	// claimed it from the queue, or adopted it); empty for runs stored
	// before replicas were recorded.
	Replica string
}

// LogRemoved reports whether retention removed the run's files.
func (r Run) LogRemoved() bool { return !r.LogRemovedAt.IsZero() }

// Duration is the wall time from start to finish, zero until both are set.
func (r Run) Duration() time.Duration {
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// NewRunID returns a new run ID: a UUIDv7, so IDs sort by creation time.
func NewRunID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new run id: %w", err)
	}
	return id.String(), nil
}

// Order is the direction of a listing.
type Order string

// The listing orders; the zero value means OrderDesc.
const (
	OrderDesc Order = "desc"
	OrderAsc  Order = "asc"
)

// RunFilter selects and pages runs. Empty fields do not filter.
type RunFilter struct {
	Pipeline string
	// Statuses matches runs in any of these statuses.
	Statuses []RunStatus
	// Triggers matches runs started by any of these triggers.
	Triggers []Trigger
	// RetryOf matches the retries of one run.
	RetryOf string
	// Since and Until bound QueuedAt: Since <= QueuedAt < Until.
	Since time.Time
	Until time.Time
	// Order is by (QueuedAt, ID); zero means newest first.
	Order Order
	// Limit is the page size: <= 0 means 50, more than 1000 means 1000.
	Limit int
	// Cursor continues after the page that returned it as NextCursor. It is
	// only meaningful with the same filter and order.
	Cursor string
}

// RunPage is one page of runs. NextCursor is empty on the last page.
type RunPage struct {
	Runs       []Run
	NextCursor string
}
