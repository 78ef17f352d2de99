package status

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned when the addressed record does not exist.
	ErrNotFound = errors.New("status: not found")
	// ErrConflict is returned when a write would break a uniqueness rule:
	// a duplicate run ID, schedule fire key, delivery ID, username, secret
	// being created twice, and so on. Callers use it for idempotency.
	ErrConflict = errors.New("status: conflict")
	// ErrInvalidCursor is returned when a pagination cursor was not made by
	// this store (tampered with, truncated, or from another listing).
	ErrInvalidCursor = errors.New("status: invalid cursor")
	// ErrLimit is returned by AdmitRun when every slot is taken and the
	// run may not queue.
	ErrLimit = errors.New("status: concurrency limit reached")
	// ErrInvalidArgument is returned for input the store refuses before
	// touching the database, such as an empty name or an unknown order.
	ErrInvalidArgument = errors.New("status: invalid argument")
)

// Store is the persistent state of Fast-Flow.
//
// Lifecycle: an implementation is opened by its own constructor, must be
// migrated (sqlstore.Store.Migrate) before first use, and is released by
// Close. Close is safe to call once whether or not any other method ran; no
// method may be called after Close.
//
// Concurrency: every method is safe for concurrent use by many goroutines.
// Each method is atomic on its own: a write either happens completely or not
// at all, and counter updates never lose increments under contention. There
// are no multi-call transactions; callers that need compare-and-set
// semantics use the conditional methods (for example TransitionRun).
//
// Time: every time.Time passed in is stored as UTC truncated to microseconds
// and every time.Time returned is in UTC. A zero time.Time means "not set"
// and round-trips as zero.
//
// Not found: methods that address a single record (Get*, Update*, Delete*,
// Revoke*, ...) return an error wrapping ErrNotFound when it does not exist.
// List methods return an empty slice and no error when nothing matches. Errors
// wrapping ErrConflict report uniqueness violations; callers test with
// errors.Is.
type Store interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database and stops background work, waiting for it.
	Close() error

	SyncStore
	RunStore
	AdmissionStore
	PipelineStore
	ScheduleStore
	SecretStore
	AuthStore
	DeliveryStore
	RetentionStore
	NotificationStore
	LeaseStore
	SyncSignaler
}

// SyncStore records every repository sync.
type SyncStore interface {
	// RecordSync stores a finished sync and returns its ID.
	RecordSync(ctx context.Context, ev SyncEvent) (int64, error)
	// LastSync returns the sync with the latest StartedAt (ErrNotFound when
	// there was none yet).
	LastSync(ctx context.Context) (SyncEvent, error)
	// ListSyncs returns up to limit syncs, newest first. limit <= 0 means 50.
	ListSyncs(ctx context.Context, limit int) ([]SyncEvent, error)
}

// RunStore keeps the run records.
type RunStore interface {
	// CreateRun inserts a run. An empty ID is filled with NewRunID, a zero
	// QueuedAt with the current time, an empty Status with RunPending and a
	// zero Attempt with 1. It returns the run as stored. A duplicate ID is
	// ErrConflict.
	CreateRun(ctx context.Context, r Run) (Run, error)
	// GetRun returns one run (ErrNotFound).
	GetRun(ctx context.Context, id string) (Run, error)
	// UpdateRun overwrites every mutable field of the run with r.ID: all but
	// ID, Pipeline, Trigger, TriggeredBy, Attempt, RetryOf, Parameters and
	// QueuedAt, which are fixed at creation (ErrNotFound).
	UpdateRun(ctx context.Context, r Run) error
	// TransitionRun is UpdateRun guarded by the current status: it writes r
	// only if the stored run is in one of from, and reports whether it did.
	// This is how a cancel and a finishing run race without losing either
	// decision. A missing run is ErrNotFound.
	TransitionRun(ctx context.Context, r Run, from ...RunStatus) (bool, error)
	// ListRuns returns one page of runs ordered by (QueuedAt, ID).
	ListRuns(ctx context.Context, f RunFilter) (RunPage, error)
	// ActiveRevisions returns the distinct revisions of PENDING and RUNNING
	// runs, sorted; the repository garbage collector keeps those.
	ActiveRevisions(ctx context.Context) ([]string, error)
	// DeleteRunsBefore deletes finished runs queued before t and returns how
	// many went, for retention.
	DeleteRunsBefore(ctx context.Context, t time.Time) (int64, error)
}

// AdmissionStore decides which runs hold one of the MAX_CONCURRENT_RUNS
// slots. Each decision is one database transaction, so the global limit,
// the queue order and a schedule's concurrency policy hold for every
// operator sharing the database, and a crash between two steps leaves no
// half-made decision.
//
// A run's slot: a RUNNING run, and a PENDING run with Admitted set, hold a
// slot; a PENDING run without Admitted is queued. Queued runs are claimed
// oldest first (QueuedAt, then ID), never before their NotBefore.
type AdmissionStore interface {
	// AdmitRun creates r (status PENDING; its ID, QueuedAt and Attempt
	// filled as CreateRun does) and decides in the same transaction:
	//
	//   - with a.Fire set, the fire key is claimed first; a key claimed
	//     before is ErrConflict and nothing is stored;
	//   - with a.ForbidActive and a PENDING or RUNNING run of r.Pipeline in
	//     the store, the fire is claimed without a run and the answer is
	//     AdmitSkipped (r is not stored);
	//   - when fewer than a.Limit runs hold a slot, r.NotBefore is not
	//     after a.Now, and no queued run is eligible ahead of r (NotBefore
	//     not after a.Now), r is stored Admitted: AdmitStarted;
	//   - otherwise, with a.Queue, r is stored queued: AdmitQueued;
	//   - otherwise nothing is stored and the error wraps ErrLimit.
	//
	// The stored run is returned with the decision.
	AdmitRun(ctx context.Context, r Run, a Admission) (Run, AdmitResult, error)
	// ClaimQueued admits queued runs whose NotBefore is not after now,
	// oldest first, while fewer than limit runs hold a slot, and returns
	// them as stored (Admitted set). Concurrent callers never claim the
	// same run twice.
	ClaimQueued(ctx context.Context, limit int, now time.Time) ([]Run, error)
	// QueueState reports how many runs are queued and the earliest
	// NotBefore after now among them (zero when none waits for a time).
	QueueState(ctx context.Context, now time.Time) (queued int, next time.Time, err error)
	// CancelQueued ends a queued run (PENDING, not Admitted) with r's
	// final status, message and finish time, and counts it, in one
	// transaction. It reports false, changing nothing, when the run is no
	// longer queued (claimed, started or ended meanwhile); a missing run is
	// ErrNotFound.
	CancelQueued(ctx context.Context, r Run) (bool, error)
	// FinishRun is TransitionRun to a final status followed, in the same
	// transaction and only if the transition happened, by
	// IncrementCounters: a run is counted exactly once however many
	// callers race to end it. r.Status must be final (ErrInvalidArgument).
	FinishRun(ctx context.Context, r Run, from ...RunStatus) (bool, error)
}

// Admission is how AdmitRun decides about one run.
type Admission struct {
	// Limit is MAX_CONCURRENT_RUNS; it must be positive.
	Limit int
	// Queue stores a run that finds no free slot queued instead of
	// refusing it.
	Queue bool
	// Fire, when set, is claimed in the same transaction; its RunID is
	// set to the new run's.
	Fire *Fire
	// ForbidActive skips the run when its pipeline has an active run (the
	// Forbid concurrency policy of scheduled fires).
	ForbidActive bool
	// Now is the decision's time (the operator's clock).
	Now time.Time
}

// AdmitResult is AdmitRun's decision.
type AdmitResult int

// The decisions of AdmitRun.
const (
	// AdmitStarted: the run holds a slot and may start now.
	AdmitStarted AdmitResult = iota + 1
	// AdmitQueued: the run waits in the queue.
	AdmitQueued
	// AdmitSkipped: the Forbid policy skipped the fire; no run was stored.
	AdmitSkipped
)

// PipelineStore keeps per-pipeline counters and uv cache state.
type PipelineStore interface {
	// UpsertPipeline creates or updates a pipeline's requirements and cache
	// state. The counters in p are ignored: only IncrementCounters and
	// ResetCounters change them.
	UpsertPipeline(ctx context.Context, p Pipeline) error
	// GetPipelineStats returns one pipeline (ErrNotFound).
	GetPipelineStats(ctx context.Context, name string) (Pipeline, error)
	// ListPipelines returns every known pipeline ordered by name.
	ListPipelines(ctx context.Context) ([]Pipeline, error)
	// IncrementCounters counts one finished run with final status st in a
	// single atomic statement, creating the pipeline row when it does not
	// exist yet. SUCCESS counts in TotalRuns and SuccessfulRuns; FAILED and
	// TIMEOUT in TotalRuns and FailedRuns (the run ended by itself, badly);
	// CANCELLED and INTERRUPTED only in CancelledRuns and InterruptedRuns,
	// so the success rate says how the pipeline does, not how often
	// someone stopped it. A status that is not final is ErrInvalidArgument.
	IncrementCounters(ctx context.Context, name string, st RunStatus) error
	// ResetCounters sets the counters to zero and CountersResetAt to now
	// (ErrNotFound).
	ResetCounters(ctx context.Context, name string) error
}

// ScheduleStore keeps the scheduler's memory across restarts.
type ScheduleStore interface {
	// PutScheduleState creates or replaces the state of one schedule.
	PutScheduleState(ctx context.Context, s ScheduleState) error
	// ListScheduleStates returns the states of one pipeline, or of all when
	// pipeline is empty, ordered by pipeline and key.
	ListScheduleStates(ctx context.Context, pipeline string) ([]ScheduleState, error)
	// DeleteScheduleStates forgets every schedule of a pipeline (for removed
	// pipelines); deleting nothing is not an error.
	DeleteScheduleStates(ctx context.Context, pipeline string) error
	// RecordFire claims a fire key exactly once across restarts and
	// replicas; a second claim of the same key is ErrConflict.
	RecordFire(ctx context.Context, f Fire) error
}

// SecretStore keeps encrypted secrets. The store never sees plaintext.
type SecretStore interface {
	// PutSecret creates or replaces a secret, keeping its CreatedAt.
	PutSecret(ctx context.Context, key string, encrypted []byte) error
	// GetSecret returns one secret with its encrypted value (ErrNotFound).
	GetSecret(ctx context.Context, key string) (Secret, error)
	// ListSecrets returns every secret ordered by key, with Value nil.
	ListSecrets(ctx context.Context) ([]Secret, error)
	// DeleteSecret removes a secret (ErrNotFound).
	DeleteSecret(ctx context.Context, key string) error
}

// AuthStore keeps users, sessions and API tokens. Secrets of either kind are
// stored as hashes computed by the caller.
type AuthStore interface {
	// CreateUser adds a user; a taken username is ErrConflict.
	CreateUser(ctx context.Context, username, passwordHash string) (User, error)
	// GetUser returns a user by name (ErrNotFound).
	GetUser(ctx context.Context, username string) (User, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// SetPassword replaces a user's password hash (ErrNotFound).
	SetPassword(ctx context.Context, username, passwordHash string) error

	// CreateSession stores a session; its user must exist (ErrNotFound).
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns an unexpired session by token hash, with its
	// username (ErrNotFound, also when it has expired).
	GetSession(ctx context.Context, tokenHash string) (Session, error)
	// DeleteSession removes a session; a missing one is not an error, so
	// logging out twice is harmless.
	DeleteSession(ctx context.Context, tokenHash string) error
	// DeleteExpiredSessions removes sessions that expired before now.
	DeleteExpiredSessions(ctx context.Context) (int64, error)

	// CreateAPIToken stores a token; its user must exist (ErrNotFound) and
	// its hash be new (ErrConflict). It returns the token with ID set.
	CreateAPIToken(ctx context.Context, t APIToken) (APIToken, error)
	// GetAPIToken returns an unrevoked token by hash, with its username
	// (ErrNotFound, also when revoked).
	GetAPIToken(ctx context.Context, hash string) (APIToken, error)
	// ListAPITokens returns every token, revoked ones included, by ID.
	ListAPITokens(ctx context.Context) ([]APIToken, error)
	// RevokeAPIToken marks a token revoked; revoking twice keeps the first
	// time (ErrNotFound).
	RevokeAPIToken(ctx context.Context, id int64) error
}

// DeliveryStore deduplicates GitHub webhook deliveries.
type DeliveryStore interface {
	// RecordDelivery stores a delivery; one seen before is ErrConflict, so
	// GitHub's redeliveries are processed once.
	RecordDelivery(ctx context.Context, d Delivery) error
}
