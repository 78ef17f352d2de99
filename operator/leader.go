package operator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// leaderLease is the name of the lease whose holder is the leader.
const leaderLease = "leader"

// ReplicaConfig says who this replica is among the `fastflow serve`
// processes sharing one database.
type ReplicaConfig struct {
	// ID names the replica (REPLICA_ID); empty means host name, process
	// ID and a random suffix, unique per start.
	ID string
	// Lease is how long the leader's lease lasts without a renewal
	// (LEADER_LEASE): a leader that dies is replaced within it. 0 means
	// 15 s.
	Lease time.Duration
	// Host and Version are shown beside the replica.
	Host, Version string
}

func (c *ReplicaConfig) fill() error {
	if c.Lease == 0 {
		c.Lease = 15 * time.Second
	}
	if c.Lease < 300*time.Millisecond {
		return fmt.Errorf("operator: LEADER_LEASE %s is too short (at least 300ms)", c.Lease)
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.ID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		c.ID = fmt.Sprintf("%s-%d-%s", c.Host, os.Getpid(), hex.EncodeToString(b))
	}
	return nil
}

// LeaderState is what this replica knows about the leadership.
type LeaderState struct {
	// Self is this replica's ID; Leader whether it leads now.
	Self   string
	Leader bool
	// Holder is the leader as last read (empty: none known), Term its
	// lease's term.
	Holder string
	Term   int64
	// Since is when this replica became leader (zero when it is not).
	Since time.Time
	// LastError is the last failed renewal, empty after a good one.
	LastError string
}

// elector keeps this replica's claim on the leader lease and runs the
// leader's duties exactly while it holds it. Renewals run on the real
// clock, as the lease expires on the database's.
type elector struct {
	store status.LeaseStore
	cfg   ReplicaConfig
	log   *slog.Logger

	mu    sync.Mutex
	state LeaderState
}

func newElector(store status.LeaseStore, cfg ReplicaConfig, log *slog.Logger) *elector {
	return &elector{store: store, cfg: cfg, log: log, state: LeaderState{Self: cfg.ID}}
}

// snapshot returns the current state.
func (e *elector) snapshot() LeaderState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// run claims the lease every Lease/3 and heartbeats the replica until ctx
// ends. While the lease is held, duties runs on a context that ends when
// the lease is lost, and run waits for it before it tries again, so two
// replicas' duties never overlap as far as the lease can tell: a leader
// that cannot renew steps down after two missed renewals, a third of the
// lease before anyone else may take it. On the way out the lease is
// released, so a clean stop hands over at once.
func (e *elector) run(ctx context.Context, duties func(ctx context.Context)) {
	every := e.cfg.Lease / 3
	var (
		lastOK  time.Time
		stop    context.CancelFunc
		running sync.WaitGroup
	)
	stepDown := func(why string) {
		stop()
		running.Wait()
		stop = nil
		e.mu.Lock()
		e.state.Leader, e.state.Since = false, time.Time{}
		e.mu.Unlock()
		e.log.Warn("no longer the leader", "why", why)
	}
	started := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if stop != nil {
				stepDown("stopping")
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := e.store.ReleaseLease(rctx, leaderLease, e.cfg.ID); err != nil {
					e.log.Warn("release the leader lease; the next leader waits for it to expire", "err", err)
				}
				cancel()
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := e.store.RemoveReplica(rctx, e.cfg.ID); err != nil {
				e.log.Warn("remove the replica's heartbeat", "err", err)
			}
			cancel()
			return
		case <-t.C:
			t.Reset(every)
		}
		// The lease's expiry counts from the database's clock during the
		// attempt: taking the time before it keeps this replica's idea
		// of its expiry no later than the database's.
		attempt := time.Now()
		actx, cancel := context.WithTimeout(ctx, every)
		l, err := e.store.TryLease(actx, leaderLease, e.cfg.ID, e.cfg.Lease)
		if herr := e.store.Heartbeat(actx, status.Replica{ID: e.cfg.ID, Host: e.cfg.Host, Version: e.cfg.Version, StartedAt: started}); herr != nil && ctx.Err() == nil {
			e.log.Warn("replica heartbeat", "err", herr)
		}
		cancel()
		if ctx.Err() != nil {
			continue
		}
		held := err == nil && l.Held(e.cfg.ID)
		e.mu.Lock()
		if err != nil {
			e.state.LastError = err.Error()
		} else {
			e.state.LastError, e.state.Holder, e.state.Term = "", l.Holder, l.Term
			if !l.ExpiresAt.After(l.Now) {
				e.state.Holder = ""
			}
		}
		e.mu.Unlock()
		switch {
		case held:
			lastOK = attempt
			if stop == nil {
				var dctx context.Context
				dctx, stop = context.WithCancel(ctx)
				running.Go(func() { duties(dctx) })
				e.mu.Lock()
				e.state.Leader, e.state.Since = true, lastOK
				e.mu.Unlock()
				e.log.Info("became the leader", "term", l.Term)
			}
		case stop != nil && err == nil:
			stepDown(fmt.Sprintf("%s holds the lease (term %d)", l.Holder, l.Term))
		case stop != nil && time.Since(lastOK) >= e.cfg.Lease-every:
			stepDown("the lease could not be renewed: " + err.Error())
		case err != nil && !errors.Is(err, context.Canceled):
			e.log.Warn("leader lease", "err", err)
		}
	}
}
