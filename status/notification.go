package status

import (
	"context"
	"time"
)

// NotificationState is where one notification is in its delivery.
type NotificationState string

// The notification states. A pending notification is tried until it is
// delivered or its attempts run out (failed).
const (
	NotificationPending   NotificationState = "pending"
	NotificationDelivered NotificationState = "delivered"
	NotificationFailed    NotificationState = "failed"
)

// Notification is one message about one run to one target of the
// pipeline's notify list. The (RunID, Target) pair is unique: a run is
// notified at most once per target however often its end is recorded.
type Notification struct {
	ID    int64
	RunID string
	// Target is the name of the secret holding the webhook URL; it names
	// the target on the run page without showing the URL.
	Target string
	// Format is "slack" or "json"; SigningSecret names the secret keying
	// a json body's signature.
	Format        string
	SigningSecret string
	// Event is what happened: failure, recovery, success or timeout.
	Event string
	State NotificationState
	// Attempts counts delivery attempts made so far.
	Attempts int
	// NextAttemptAt is when a pending notification is next tried.
	NextAttemptAt time.Time
	// LastError is why the last attempt failed (empty after a delivery).
	LastError   string
	CreatedAt   time.Time
	DeliveredAt time.Time
}

// NotificationStore keeps the notifications of runs. They go with their
// run when retention deletes its row.
type NotificationStore interface {
	// EnqueueNotifications stores pending notifications (State, Attempts
	// and CreatedAt are set by the store; a zero NextAttemptAt is now). A
	// notification whose (RunID, Target) is stored already is skipped, so
	// enqueueing twice notifies once; the rest are stored all or none. A
	// run that does not exist is ErrNotFound.
	EnqueueNotifications(ctx context.Context, ns []Notification) error
	// ClaimNotifications returns up to limit pending notifications whose
	// NextAttemptAt is not after now, oldest first, and moves their
	// NextAttemptAt to now+lease in the same transaction: a concurrent
	// caller does not get them, and if the claimer dies before recording
	// the attempt they come back after the lease.
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// RecordNotificationAttempt stores the outcome of an attempt on n.ID:
	// State, Attempts, NextAttemptAt, LastError and DeliveredAt
	// (ErrNotFound).
	RecordNotificationAttempt(ctx context.Context, n Notification) error
	// ListNotifications returns a run's notifications ordered by target.
	ListNotifications(ctx context.Context, runID string) ([]Notification, error)
	// NextNotificationAt returns the earliest NextAttemptAt of the pending
	// notifications, zero when none is pending.
	NextNotificationAt(ctx context.Context) (time.Time, error)
}
