package operator

import (
	"context"
	"crypto/sha256"
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
	// ID names the replica (REPLICA_ID); empty means the host name and a
	// hash of the instance (its DATA_DIR, which each replica has of its
	// own), the same on every start, so a restarted replica finds its
	// runs again.
	ID string
	// Lease is how long the leader's lease lasts without a renewal
	// (LEADER_LEASE): a leader that dies is replaced within it. 0 means
	// 15 s.
	Lease time.Duration
	// Grace is how long the runs of a replica that stopped sending
	// heartbeats stay its own (it may come back and re-attach them)
	// before the leader ends them INTERRUPTED (REPLICA_GRACE). 0 means
	// 2 minutes.
	Grace time.Duration
	// Host and Version are shown beside the replica.
	Host, Version string
}

func (c *ReplicaConfig) fill(instance string) error {
	if c.Lease == 0 {
		c.Lease = 15 * time.Second
	}
	if c.Lease < 300*time.Millisecond {
		return fmt.Errorf("operator: LEADER_LEASE %s is too short (at least 300ms)", c.Lease)
	}
	if c.Grace == 0 {
		c.Grace = 2 * time.Minute
	}
	if c.Grace < 0 {
		return fmt.Errorf("operator: REPLICA_GRACE %s is negative", c.Grace)
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.ID == "" {
		sum := sha256.Sum256([]byte(instance))
		c.ID = c.Host + "-" + hex.EncodeToString(sum[:4])
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
			// The heartbeat stays: a replica stopped with its runs going
			// (SHUTDOWN_POLICY=detach) keeps them for Grace after it.
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
		cancel()
		// A heartbeat of its own time: a slow lease claim must not starve
		// it, or the leader would take a busy replica for a stopped one.
		hctx, cancel := context.WithTimeout(ctx, every)
		if herr := e.store.Heartbeat(hctx, status.Replica{ID: e.cfg.ID, Host: e.cfg.Host, Version: e.cfg.Version, StartedAt: started}); herr != nil && ctx.Err() == nil {
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

// forgetReplicasAfter is when a replica that sent no heartbeat is dropped
// from the list.
const forgetReplicasAfter = 7 * 24 * time.Hour

// watchReplicas is the leader's look at the other replicas, once a lease:
// it settles the runs of replicas gone for longer than Grace and forgets
// replicas gone for a week.
func (o *Operator) watchReplicas(ctx context.Context) {
	t := time.NewTicker(o.cfg.Replica.Lease)
	defer t.Stop()
	for {
		if _, err := o.settleDeadReplicas(ctx); err != nil && ctx.Err() == nil {
			o.log.Error("settle the runs of stopped replicas", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// settleDeadReplicas ends INTERRUPTED the runs that replicas silent for
// longer than Grace held a slot for (their containers ran on their own
// hosts, which this replica cannot see), retrying them where the pipeline
// allows; their queued runs stay in the queue, which every replica
// serves. It reports how many runs it ended.
func (o *Operator) settleDeadReplicas(ctx context.Context) (int, error) {
	l, err := o.store.GetLease(ctx, leaderLease)
	if err != nil {
		return 0, err
	}
	now := l.Now // the database's clock, which stamped the heartbeats
	all, err := o.store.ListReplicas(ctx, time.Time{})
	if err != nil {
		return 0, err
	}
	lastSeen := map[string]time.Time{}
	for _, r := range all {
		lastSeen[r.ID] = r.LastSeen
		if now.Sub(r.LastSeen) > forgetReplicasAfter {
			if err := o.store.RemoveReplica(ctx, r.ID); err != nil {
				o.log.Warn("forget a stopped replica", "replica", r.ID, "err", err)
			}
		}
	}
	runs, err := activeRecords(ctx, o.store)
	if err != nil {
		return 0, err
	}
	ended := 0
	for _, run := range runs {
		if run.Replica == "" || run.Replica == o.cfg.Replica.ID || (run.Status == status.RunPending && !run.Admitted) {
			continue
		}
		seen, known := lastSeen[run.Replica]
		if known && now.Sub(seen) <= o.cfg.Replica.Grace {
			continue
		}
		log := o.log.With("run", run.ID, "pipeline", run.Pipeline, "replica", run.Replica)
		since := "never seen"
		if known {
			since = "silent since " + seen.UTC().Format(time.RFC3339)
		}
		run.Status, run.FinishedAt = status.RunInterrupted, o.now()
		run.Message = fmt.Sprintf("interrupted: replica %s, which executed it, stopped (%s, REPLICA_GRACE %s)", run.Replica, since, o.cfg.Replica.Grace)
		changed, err := o.storeFinal(ctx, log, run, status.RunPending, status.RunRunning)
		if err != nil {
			return ended, err
		}
		if !changed {
			continue // it ended meanwhile, or its replica came back
		}
		ended++
		log.Warn("ended the run of a stopped replica")
		o.queueRetry(ctx, log, run, o.pipelineAt(ctx, run))
	}
	return ended, nil
}
