package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/checks"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// Sync triggers, as recorded in the sync history.
const (
	TriggerStartup = "startup"
	TriggerPoll    = "poll"
	TriggerManual  = "manual"
	TriggerWebhook = "webhook"
	// TriggerReplica: another replica heard of a new commit (a webhook, a
	// "sync now") and told this one.
	TriggerReplica = "replica"
)

// Shutdown policies: what happens to running containers on SIGTERM.
const (
	// ShutdownDetach leaves containers running; the next start re-attaches.
	ShutdownDetach = "detach"
	// ShutdownStop stops them and marks their runs INTERRUPTED.
	ShutdownStop = "stop"
)

// Config configures an Operator.
type Config struct {
	// SyncInterval is the polling period; 0 disables polling (webhooks and
	// manual requests still sync).
	SyncInterval time.Duration

	// WorkerImage runs every pipeline (WORKER_BASE_IMAGE).
	WorkerImage string
	// LogsDir holds <pipeline>/<run_id>.log and _metrics.jsonl (LOGS_DIR).
	LogsDir string
	// MaxConcurrentRuns bounds active runs (MAX_CONCURRENT_RUNS, default 10).
	MaxConcurrentRuns int
	// ContainerTimeout applies when pipeline.json sets no timeout; 0 is none.
	ContainerTimeout time.Duration
	// RetryAttempts and RetryDelay apply when pipeline.json sets none.
	RetryAttempts int
	RetryDelay    time.Duration
	// StallTimeout (STALL_TIMEOUT) stops a run that has written no output
	// for this long as FAILED with error type STALLED: a pipeline hung on
	// a lock or a dead connection is found before its timeout, which may
	// be hours. 0 turns the check off.
	StallTimeout time.Duration
	// HealthGrace (HEALTH_GRACE) is how long a run's container may stay
	// unhealthy, by the health check its image defines, before it is
	// stopped and the run ends FAILED with error type UNHEALTHY. 0 turns
	// the stop off; the health history is kept either way.
	HealthGrace time.Duration
	// LogMaxBytes caps each run's stored log (LOG_MAX_SIZE_MB); 0 is no cap.
	LogMaxBytes int64
	// WorkerNetwork is the network run containers join (WORKER_NETWORK).
	WorkerNetwork string
	// WorkerEnv and WorkerMounts are added to every run container, for
	// site setup such as a wheelhouse (UV_FIND_LINKS) next to the workers.
	// The run's code and the uv cache are not host paths here: the
	// runtime maps runtime.Code and runtime.CacheUV to what it has.
	WorkerEnv    map[string]string
	WorkerMounts []runtime.Mount
	// PreHeat warms the uv cache after each sync for pipelines whose
	// requirements.txt is new or changed (UV_PRE_HEAT).
	PreHeat bool
	// ShutdownPolicy is ShutdownDetach (default) or ShutdownStop.
	ShutdownPolicy string
	// StopGrace is how long a stopped container gets between SIGTERM and
	// SIGKILL (cancel, timeout, shutdown). Default 10s.
	StopGrace time.Duration
	// Secrets resolves the secrets pipelines name; nil refuses such runs.
	Secrets SecretSource
	// Checks reports validation and runs as GitHub check runs; nil is off.
	Checks *checks.Reporter
	// Instance identifies this installation on a shared container host; it
	// labels every container and scopes reconciliation (required).
	Instance string

	// MinFreeDisk (MIN_FREE_DISK) is the free space below which new runs
	// are refused (ErrLowDisk) and /health says degraded; 0 is no check.
	MinFreeDisk int64
	// DiskDirs are further folders whose free space counts, beside
	// LOGS_DIR, as {name, path}: DATA_DIR for the database and revisions.
	DiskDirs [][2]string

	// Retention removes old run logs and metrics files and, with
	// HistoryDays, old run rows (LOG_RETENTION_RUNS, LOG_RETENTION_DAYS,
	// RUN_HISTORY_DAYS); the zero value keeps everything.
	Retention RetentionConfig

	// UVCache measures the host's uv cache and trims it to its maximum
	// size (UV_CACHE_DIR, UV_CACHE_MAX_SIZE); a zero value is off.
	UVCache UVCacheConfig
	// Janitor removes what runs and syncs left behind (JANITOR_INTERVAL,
	// JANITOR_DRY_RUN, JANITOR_PRUNE_IMAGES); the zero value is off.
	Janitor JanitorConfig

	// Replica names this replica among those sharing the database and
	// sets the leader lease (REPLICA_ID, LEADER_LEASE).
	Replica ReplicaConfig

	// Notify is how the notifications that pipelines' notify lists ask
	// for are delivered.
	Notify NotifyConfig

	// Observer hears about removals by retention and the janitor; nil
	// reports to nobody.
	Observer Observer

	// Clock is the source of time for schedules, timeouts, stall checks,
	// retry delays and backoff; nil is the real clock. For tests.
	Clock Clock

	Logger *slog.Logger
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Replica.fill(c.Instance); err != nil {
		errs = append(errs, err)
	}
	if c.SyncInterval < 0 {
		errs = append(errs, errors.New("operator: AUTO_SYNC_INTERVAL must not be negative"))
	}
	if c.WorkerImage == "" {
		errs = append(errs, errors.New("operator: WORKER_BASE_IMAGE is required"))
	}
	if c.Instance == "" {
		errs = append(errs, errors.New("operator: an instance name is required"))
	}
	if c.LogsDir == "" {
		errs = append(errs, errors.New("operator: LOGS_DIR is required"))
	}
	if c.MaxConcurrentRuns == 0 {
		c.MaxConcurrentRuns = 10
	}
	if c.UVCache.MaxBytes < 0 {
		errs = append(errs, errors.New("operator: UV_CACHE_MAX_SIZE must not be negative"))
	}
	if c.MinFreeDisk < 0 {
		errs = append(errs, errors.New("operator: MIN_FREE_DISK must not be negative"))
	}
	if c.MaxConcurrentRuns < 0 || c.RetryAttempts < 0 || c.ContainerTimeout < 0 || c.RetryDelay < 0 || c.LogMaxBytes < 0 || c.StallTimeout < 0 || c.HealthGrace < 0 {
		errs = append(errs, errors.New("operator: MAX_CONCURRENT_RUNS, RETRY_ATTEMPTS, CONTAINER_TIMEOUT, STALL_TIMEOUT, HEALTH_GRACE, LOG_MAX_SIZE_MB must not be negative"))
	}
	switch c.ShutdownPolicy {
	case "":
		c.ShutdownPolicy = ShutdownDetach
	case ShutdownDetach, ShutdownStop:
	default:
		errs = append(errs, fmt.Errorf("operator: SHUTDOWN_POLICY %q: want detach or stop", c.ShutdownPolicy))
	}
	if c.StopGrace == 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = 10 * time.Second
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Janitor.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return errors.Join(errs...)
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
	// UVCache is the uv cache's size and last clean-up (zero Dir: not
	// measured here).
	UVCache UVCacheState
}

// Operator is the control loop. Create it with New, then call Run; the other
// methods are safe for concurrent use, before, during and after Run.
type Operator struct {
	cfg        Config
	log        *slog.Logger
	syncer     *repo.Syncer
	store      status.Store
	rt         runtime.Runtime
	secrets    SecretSource
	logHubs    *logs.Hubs[logs.Line]
	metricHubs *logs.Hubs[metrics.Point]

	// signals holds the syncs to announce to the other replicas.
	signals chan string
	// kick holds at most one pending sync request. A request made while a
	// sync runs lands here and causes exactly one follow-up sync, however
	// many requests arrive meanwhile.
	kick chan struct{}
	// ready is closed once startup reconciliation and the first sync are done.
	ready chan struct{}

	mu             sync.Mutex
	pendingTrigger string
	// pendingRevisions are the commits the pending requests named; nil
	// when one of them named none (it syncs whatever).
	pendingRevisions []string
	state            SyncState

	// clk is cfg.Clock.
	clk Clock
	// adm decides which runs start and knows the runners of this process.
	adm *admission
	// runCtx is the parent of every runner; it outlives Run's ctx so
	// SHUTDOWN_POLICY decides what happens to runs, and runWG waits for
	// the runners and warm-ups. runCtx is set once, before anything uses
	// it, by Run.
	runCtx context.Context
	runWG  sync.WaitGroup

	preheat *preheater
	// retention sweeps old logs and rows; Run starts its loop when a rule
	// is set, and finished runs poke it.
	retention *retention
	// uvcache measures and trims the uv cache; Run starts its loop when
	// the cache is on this host.
	uvcache *cacheKeeper
	// janitor cleans up containers, volumes, revisions and images; Run
	// starts its loop when Janitor.Interval is set.
	janitor *janitor
	// notifier delivers the notifications of ended runs; Run starts its
	// loop.
	notifier *notifier
	// elector holds the leader lease; the scheduler, retention and the
	// janitor run only while it does.
	elector *elector
}

// New checks its inputs; it starts nothing.
func New(cfg Config, syncer *repo.Syncer, store status.Store, rt runtime.Runtime) (*Operator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if syncer == nil || store == nil || rt == nil {
		return nil, errors.New("operator: a syncer, a store and a runtime are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Operator{
		cfg: cfg, log: cfg.Logger, syncer: syncer, store: store, rt: rt, secrets: cfg.Secrets,
		logHubs: logs.NewHubs[logs.Line](2000), metricHubs: logs.NewHubs[metrics.Point](600),
		kick: make(chan struct{}, 1), ready: make(chan struct{}), signals: make(chan string, 16),
		clk: cfg.Clock, adm: newAdmission(store, cfg.MaxConcurrentRuns),
		// Until Run sets its own: a runner started before Run (none
		// should be) still has a context.
		runCtx: context.Background(),
	}
	o.preheat = newPreheater(o)
	o.uvcache = newCacheKeeper(cfg.UVCache, cfg.Clock, cfg.Logger.With("component", "uv-cache"), cfg.Observer)
	o.retention = newRetention(cfg.Retention, store, cfg.Clock, cfg.Logger.With("component", "retention"), o.retentionSpec, cfg.Observer)
	o.elector = newElector(store, cfg.Replica, cfg.Logger.With("component", "leader", "replica", cfg.Replica.ID))
	o.notifier = newNotifier(cfg.Notify, store, cfg.Secrets, cfg.Clock, cfg.Logger.With("component", "notify"))
	o.janitor = newJanitor(cfg.Janitor, cfg.Instance, rt, store, syncer, cfg.Clock, cfg.Logger.With("component", "janitor"), cfg.Observer, o.busyRuns)
	return o, nil
}

// Ready is closed once the operator has reconciled the runs of the last
// process and finished its first sync: from then on it admits runs.
func (o *Operator) Ready() <-chan struct{} { return o.ready }

// LogHubs gives the API the live log of active runs.
func (o *Operator) LogHubs() *logs.Hubs[logs.Line] { return o.logHubs }

// MetricHubs gives the API the live metrics of active runs.
func (o *Operator) MetricHubs() *logs.Hubs[metrics.Point] { return o.metricHubs }

// Run adopts the revision already on disk, syncs, then syncs again on every
// poll tick and every request until ctx is done. A sync in flight when ctx
// ends is abandoned before its symlink swap, never halfway through it. Run
// returns nil on a clean stop.
func (o *Operator) Run(ctx context.Context) error {
	if err := os.MkdirAll(o.cfg.LogsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.cfg.LogsDir, err)
	}
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	o.runCtx = runCtx
	defer o.shutdown(cancelRuns)

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

	// Settle what the last process left behind before taking new runs, so
	// admission counts the runs that are still going.
	o.reconcile(ctx)
	o.adm.setAccepting(true)

	o.syncOnce(ctx, TriggerStartup)
	if st := o.SyncState(); st.Last.Outcome == string(repo.OutcomeUnchanged) && st.Live != nil {
		// The revision was published by the last process, which may have
		// died mid warm-up: finish what is not warm yet.
		o.afterPublish(ctx, st.Live)
	}
	close(o.ready)

	// The scheduler fires runs from the live snapshot until ctx ends.
	var loops sync.WaitGroup
	defer loops.Wait()
	loops.Go(func() { o.elector.run(ctx, o.leaderDuties) })
	loops.Go(func() { o.dispatch(ctx) })
	loops.Go(func() { o.notifier.run(ctx) })
	loops.Go(func() { o.relaySyncSignals(ctx) })
	if o.uvcache.enabled() {
		loops.Go(func() { o.uvcache.run(ctx) })
	}

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
			trigger, want, live := o.pendingTrigger, o.pendingRevisions, o.state.Live
			o.pendingTrigger, o.pendingRevisions = "", nil
			o.mu.Unlock()
			if want != nil && live != nil && allLive(want, live.Revision) {
				// Every request named a commit that is live by now (the
				// deliveries of one push, redelivered or sent in a
				// burst): nothing to fetch.
				o.log.Debug("sync request satisfied by the live revision", "trigger", trigger, "revision", live.ShortRevision())
				continue
			}
			o.syncOnce(ctx, trigger)
		}
	}
}

// shutdown stops admitting, applies SHUTDOWN_POLICY to active runs, and
// waits for every runner to return. Queued runs stay queued in the store
// for the next start.
func (o *Operator) shutdown(cancelRuns context.CancelFunc) {
	o.adm.setAccepting(false)
	active := o.adm.runners()
	if o.cfg.ShutdownPolicy == ShutdownStop && len(active) > 0 {
		o.log.Info("stopping active runs", "count", len(active))
		for _, r := range active {
			r.requestStop(stopRequest{reason: endShutdown})
		}
		deadline := o.clk.NewTimer(o.cfg.StopGrace + 2*cleanupTimeout)
		defer deadline.Stop()
	wait:
		for o.adm.count() > 0 {
			select {
			case <-deadline.C():
				o.log.Warn("runs did not stop in time; leaving them to the next start", "count", o.adm.count())
				break wait
			case <-o.adm.released:
			}
		}
	} else if len(active) > 0 {
		o.log.Info("leaving runs running for the next start (SHUTDOWN_POLICY=detach)", "count", len(active))
	}
	cancelRuns()
	o.runWG.Wait()
}

// leaderDuties are the loops one replica of the installation runs: the
// scheduler (fires are claimed by key, so even an overlap at a hand-over
// could not double one), the look at stopped replicas, retention and the
// janitor. They run until ctx
// ends, when the lease is lost or the operator stops.
func (o *Operator) leaderDuties(ctx context.Context) {
	var loops sync.WaitGroup
	defer loops.Wait()
	loops.Go(func() { newScheduler(o).run(ctx) })
	loops.Go(func() { o.watchReplicas(ctx) })
	if r := o.cfg.Retention; r.Runs > 0 || r.Days > 0 || r.HistoryDays > 0 {
		loops.Go(func() { o.retention.run(ctx) })
	}
	if o.cfg.Janitor.Interval > 0 {
		loops.Go(func() { o.janitor.run(ctx) })
	}
}

// Leadership reports this replica's view of the leader lease.
func (o *Operator) Leadership() LeaderState { return o.elector.snapshot() }

// Replicas lists the replicas that sent a heartbeat within three leases.
func (o *Operator) Replicas(ctx context.Context) ([]status.Replica, error) {
	return o.store.ListReplicas(ctx, time.Now().Add(-3*o.cfg.Replica.Lease))
}

// RequestSync asks for a sync soon and returns at once. Requests made while
// one is pending are merged into it.
func (o *Operator) RequestSync(trigger string) {
	o.requestSync(trigger, "")
	o.announce("")
}

// RequestSyncTo is RequestSync for a request that names the commit it
// expects (a push webhook's "after"): if that commit is live by the time
// the request is handled, no sync is made. A burst of deliveries for one
// push, however long, costs one sync.
func (o *Operator) RequestSyncTo(trigger, revision string) {
	o.requestSync(trigger, revision)
	o.announce(revision)
}

// announce queues a sync signal for the other replicas; a full queue
// drops it (they sync at their next poll all the same).
func (o *Operator) announce(revision string) {
	select {
	case o.signals <- revision:
	default:
	}
}

// relaySyncSignals sends the announced syncs to the other replicas and
// turns theirs into syncs here, until ctx ends. A signal this replica
// sent comes back too; the sync it asks for is then merged with the one
// already requested, or finds its commit live.
func (o *Operator) relaySyncSignals(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := o.store.ListenSync(ctx, func(rev string) { o.requestSync(TriggerReplica, rev) }); err != nil && ctx.Err() == nil {
			o.log.Warn("listen for other replicas' syncs", "err", err)
		}
	})
	for {
		select {
		case <-ctx.Done():
			return
		case rev := <-o.signals:
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := o.store.SignalSync(sctx, rev); err != nil && ctx.Err() == nil {
				o.log.Warn("tell the other replicas to sync; they follow at their next poll", "err", err)
			}
			cancel()
		}
	}
}

func (o *Operator) requestSync(trigger, revision string) {
	o.mu.Lock()
	if live := o.state.Live; revision != "" && live != nil && live.Revision == revision && o.pendingTrigger == "" && !o.state.Running {
		o.mu.Unlock()
		return // already live, and no sync pending or going
	}
	if o.pendingTrigger == "" {
		o.pendingTrigger = trigger
		o.pendingRevisions = []string{}
	}
	if revision == "" {
		o.pendingRevisions = nil // a request without a commit always syncs
	} else if o.pendingRevisions != nil {
		o.pendingRevisions = append(o.pendingRevisions, revision)
	}
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// allLive reports whether every wanted revision is live.
func allLive(want []string, live string) bool {
	for _, w := range want {
		if w != live {
			return false
		}
	}
	return true
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
	st := o.state
	o.mu.Unlock()
	st.UVCache = o.uvcache.snapshot()
	return st
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
	log := o.log.With("trigger", trigger, "outcome", ev.Outcome, "revision", repo.ShortSHA(ev.Revision))
	if err != nil {
		ev.Error = err.Error()
		log.Error("sync failed; the last good revision stays live", "err", err)
	} else if res.Outcome == repo.OutcomeUpdated {
		log.Info("published new revision", "pipelines", ev.Pipelines, "problems", ev.Problems, "took", res.FinishedAt.Sub(res.StartedAt))
	} else {
		log.Debug("repository unchanged")
	}

	// Recorded before it is shown: whoever sees it as the last sync
	// finds it in the history too.
	if _, err := o.store.RecordSync(ctx, ev); err != nil {
		o.log.Error("record sync", "err", err)
	}
	o.mu.Lock()
	prev := o.state.Live
	o.state.Running = false
	o.state.Last = ev
	if err == nil {
		o.state.LastSuccess = res.FinishedAt
		o.state.Live = res.Snapshot
	}
	o.mu.Unlock()

	if res.Outcome == repo.OutcomeUpdated {
		if prev != nil {
			o.stopRemoved(ctx, prev, res.Snapshot)
		}
		o.reportValidation(res.Snapshot)
		o.afterPublish(ctx, res.Snapshot)
		o.collectRevisions(ctx)
	}
}

// now is the operator's clock reading in UTC, as the store keeps times.
func (o *Operator) now() time.Time { return o.clk.Now().UTC() }

// collectRevisions removes revisions no queued or running run still mounts.
// If the store cannot say which are in use, nothing is removed.
func (o *Operator) collectRevisions(ctx context.Context) {
	inUse, err := o.store.ActiveRevisions(ctx)
	if err != nil {
		o.log.Error("skip revision clean-up", "err", fmt.Errorf("list revisions in use: %w", err))
		return
	}
	got, err := o.syncer.Collect(ctx, repo.GCOptions{InUse: inUse})
	if err != nil {
		o.log.Error("revision clean-up", "err", err)
	}
	if len(got.Revisions)+len(got.TempDirs) > 0 {
		o.log.Info("removed old revisions", "count", len(got.Revisions), "temp_dirs", len(got.TempDirs))
	}
	// The janitor's job, done at once after a sync: counted as its.
	for kind, n := range map[string]int{kindRevisions: len(got.Revisions), kindTempDirs: len(got.TempDirs)} {
		if n > 0 {
			o.cfg.Observer.Removed(ComponentJanitor, kind, n)
		}
	}
}

// busyRuns returns the IDs of the runs and warm-ups this process
// supervises, whose containers the janitor leaves alone whatever the store
// says.
func (o *Operator) busyRuns() map[string]bool {
	busy := map[string]bool{}
	for _, id := range o.adm.ids() {
		busy[id] = true
	}
	o.preheat.addActive(busy)
	return busy
}

// retentionSpec returns the retention object of a pipeline of the live
// revision, nil when it has none or is not live.
func (o *Operator) retentionSpec(name string) *schemas.Retention {
	o.mu.Lock()
	live := o.state.Live
	o.mu.Unlock()
	if live == nil {
		return nil
	}
	for _, p := range live.Pipelines {
		if p.Name == name {
			return p.Spec.Retention
		}
	}
	return nil
}
