package status

import (
	"context"
	"time"
)

// Lease is a named, time-bound right held by one replica: the leader lease
// makes one replica the installation's scheduler, janitor and sweeper.
// Times are the database's clock, so replicas whose clocks disagree still
// agree on who holds it.
type Lease struct {
	Name   string
	Holder string
	// Term counts the changes of holder (and re-acquisitions after an
	// expiry); a replica that sees the same term still holds the lease it
	// held.
	Term       int64
	AcquiredAt time.Time
	RenewedAt  time.Time
	ExpiresAt  time.Time
	// Now is the database's clock when the lease was read.
	Now time.Time
}

// Held reports whether holder holds the lease as read.
func (l Lease) Held(holder string) bool { return l.Holder == holder && l.ExpiresAt.After(l.Now) }

// Replica is one running `fastflow serve` sharing the database.
type Replica struct {
	ID        string
	Host      string
	Version   string
	StartedAt time.Time
	// LastSeen is the database's clock at the replica's latest heartbeat.
	LastSeen time.Time
}

// LeaseStore elects a leader among replicas through the database: a
// lease row renewed in short transactions, not a session lock, so a
// replica whose connection is cut loses the lease after its TTL on the
// database's clock, whatever the state of its TCP connection.
type LeaseStore interface {
	// TryLease takes the named lease for holder, or renews it when holder
	// has it, for ttl from the database's now. It succeeds only when the
	// lease is free, expired or holder's own; in every case it returns the
	// lease as stored after the attempt (Held tells the outcome).
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease gives up holder's lease at once, so another replica
	// need not wait out the TTL; a lease holder does not hold is left.
	ReleaseLease(ctx context.Context, name, holder string) error
	// GetLease returns the lease as stored (ErrNotFound when never taken).
	GetLease(ctx context.Context, name string) (Lease, error)
	// Heartbeat records that the replica is alive (LastSeen is set by the
	// store to the database's now).
	Heartbeat(ctx context.Context, r Replica) error
	// ListReplicas returns the replicas seen since the given time, by ID.
	ListReplicas(ctx context.Context, since time.Time) ([]Replica, error)
	// RemoveReplica forgets a replica that stopped cleanly.
	RemoveReplica(ctx context.Context, id string) error
}

// SyncSignaler lets the replica that heard of a new commit (a webhook, a
// "sync now") tell the others, so every replica syncs at once instead of
// at its next poll. Signals are best effort: a replica that misses one
// still syncs at its next poll.
type SyncSignaler interface {
	// SignalSync tells the other replicas to sync to revision ("" for
	// the branch tip, whatever it is).
	SignalSync(ctx context.Context, revision string) error
	// ListenSync calls fn with the revision of every signal, from any
	// replica this one included, until ctx ends; it reconnects when the
	// database goes away. A store whose replicas share a host (SQLite)
	// hears nothing and returns when ctx ends.
	ListenSync(ctx context.Context, fn func(revision string)) error
}
