package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status"
)

// Sync triggers, as recorded in the sync history.
const (
	TriggerStartup = "startup"
	TriggerPoll    = "poll"
	TriggerManual  = "manual"
	TriggerWebhook = "webhook"
)

// Config configures an Operator.
type Config struct {
	// SyncInterval is the polling period; 0 disables polling (webhooks and
	// manual requests still sync).
	SyncInterval time.Duration
	Logger       *slog.Logger
}

// Validate checks c.
func (c *Config) Validate() error {
	if c.SyncInterval < 0 {
		return errors.New("operator: AUTO_SYNC_INTERVAL must not be negative")
	}
	return nil
}

// SyncState is what the operator knows about syncing, for /health and the UI.
type SyncState struct {
	// Live is the published snapshot (nil before the first successful sync).
	Live *repo.Snapshot
	// Last is the most recent finished sync attempt (zero before the first).
	Last status.SyncEvent
	// LastSuccess is when a sync last succeeded, updated or unchanged.
	LastSuccess time.Time
	// Running reports a sync in progress.
	Running bool
}

// Operator is the control loop. Create it with New, then call Run; the other
// methods are safe for concurrent use, before, during and after Run.
type Operator struct {
	cfg    Config
	log    *slog.Logger
	syncer *repo.Syncer
	store  status.Store

	// kick holds at most one pending sync request. A request made while a
	// sync runs lands here and causes exactly one follow-up sync, however
	// many requests arrive meanwhile.
	kick chan struct{}

	mu             sync.Mutex
	pendingTrigger string
	state          SyncState
}

// New checks its inputs; it starts nothing.
func New(cfg Config, syncer *repo.Syncer, store status.Store) (*Operator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if syncer == nil || store == nil {
		return nil, errors.New("operator: a syncer and a store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Operator{cfg: cfg, log: cfg.Logger, syncer: syncer, store: store, kick: make(chan struct{}, 1)}, nil
}

// Run adopts the revision already on disk, syncs, then syncs again on every
// poll tick and every request until ctx is done. A sync in flight when ctx
// ends is abandoned before its symlink swap, never halfway through it. Run
// returns nil on a clean stop.
func (o *Operator) Run(ctx context.Context) error {
	snap, err := o.syncer.Load(ctx)
	if err != nil {
		// Not fatal: the first sync publishes a fresh revision.
		o.log.Warn("could not adopt the published revision", "err", err)
	}
	if snap != nil {
		o.mu.Lock()
		o.state.Live = snap
		o.mu.Unlock()
		o.log.Info("adopted published revision", "revision", snap.ShortRevision(), "pipelines", len(snap.Pipelines))
	}

	o.syncOnce(ctx, TriggerStartup)

	var tick <-chan time.Time
	if o.cfg.SyncInterval > 0 {
		ticker := time.NewTicker(o.cfg.SyncInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			o.syncOnce(ctx, TriggerPoll)
		case <-o.kick:
			o.mu.Lock()
			trigger := o.pendingTrigger
			o.pendingTrigger = ""
			o.mu.Unlock()
			o.syncOnce(ctx, trigger)
		}
	}
}

// RequestSync asks for a sync soon and returns at once. Requests made while
// one is pending are merged into it.
func (o *Operator) RequestSync(trigger string) {
	o.mu.Lock()
	if o.pendingTrigger == "" {
		o.pendingTrigger = trigger
	}
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Snapshot returns the live snapshot, nil before the first publish.
func (o *Operator) Snapshot() *repo.Snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state.Live
}

// SyncState returns a copy of the sync state.
func (o *Operator) SyncState() SyncState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state
}

func (o *Operator) syncOnce(ctx context.Context, trigger string) {
	if ctx.Err() != nil {
		return
	}
	o.mu.Lock()
	o.state.Running = true
	o.mu.Unlock()

	res, err := o.syncer.Sync(ctx)
	if ctx.Err() != nil {
		// Shutting down: the sync was abandoned before its swap, and the
		// half-done attempt is not worth a row in the history.
		o.mu.Lock()
		o.state.Running = false
		o.mu.Unlock()
		return
	}
	ev := status.SyncEvent{
		Trigger:    trigger,
		StartedAt:  res.StartedAt,
		FinishedAt: res.FinishedAt,
		Outcome:    string(res.Outcome),
	}
	if res.Snapshot != nil {
		ev.Revision = res.Snapshot.Revision
		ev.Branch = res.Snapshot.Branch
		ev.CommitMessage = res.Snapshot.CommitMessage
		ev.Pipelines = len(res.Snapshot.Pipelines)
		ev.Problems = res.Snapshot.ProblemCount()
	}
	log := o.log.With("trigger", trigger, "outcome", ev.Outcome, "revision", shortSHA(ev.Revision))
	if err != nil {
		ev.Error = err.Error()
		log.Error("sync failed; the last good revision stays live", "err", err)
	} else if res.Outcome == repo.OutcomeUpdated {
		log.Info("published new revision", "pipelines", ev.Pipelines, "problems", ev.Problems, "took", res.FinishedAt.Sub(res.StartedAt))
	} else {
		log.Debug("repository unchanged")
	}

	o.mu.Lock()
	o.state.Running = false
	o.state.Last = ev
	if err == nil {
		o.state.LastSuccess = res.FinishedAt
		o.state.Live = res.Snapshot
	}
	o.mu.Unlock()

	if _, err := o.store.RecordSync(ctx, ev); err != nil {
		o.log.Error("record sync", "err", err)
	}
	if res.Outcome == repo.OutcomeUpdated {
		o.collectRevisions(ctx)
	}
}

// collectRevisions removes revisions no queued or running run still mounts.
// If the store cannot say which are in use, nothing is removed.
func (o *Operator) collectRevisions(ctx context.Context) {
	inUse, err := o.store.ActiveRevisions(ctx)
	if err != nil {
		o.log.Error("skip revision clean-up", "err", fmt.Errorf("list revisions in use: %w", err))
		return
	}
	removed, err := o.syncer.GC(ctx, inUse)
	if err != nil {
		o.log.Error("revision clean-up", "err", err)
	}
	if len(removed) > 0 {
		o.log.Info("removed old revisions", "count", len(removed))
	}
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
