package checks

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// Problem is one validation finding, annotated on the commit.
type Problem struct {
	// Path is relative to the repository root, slash-separated. A problem
	// without a path is listed in the summary but not annotated, because
	// GitHub rejects an annotation without one (and the whole batch with it).
	Path string
	// Line is 1-based; 0 means unknown and annotates line 1.
	Line    int
	Message string
}

// Reporter turns Fast-Flow events into GitHub check runs. The enqueue
// methods may be called from any goroutine, before, during or after Run, and
// never block on the network. Run must be called at most once. A nil
// *Reporter ignores every report, so callers need no "is GitHub configured"
// checks.
type Reporter struct {
	cfg          Config
	log          *slog.Logger
	clock        Clock
	apiURL       *url.URL
	minBackoff   time.Duration
	maxBackoff   time.Duration
	drainTimeout time.Duration
	started      atomic.Bool

	// wake tells Run that a report arrived; it holds at most one signal,
	// so an enqueue never waits for Run.
	wake chan struct{}

	mu sync.Mutex
	// queue is in arrival order; delivery order within a key follows it.
	queue []*report
	// pausedUntil holds all deliveries while GitHub rate-limits the
	// installation: the limit is shared, so sending anything is futile.
	pausedUntil time.Time

	// checkRuns maps a run ID to its check run ID between RunStarted and
	// RunFinished. Only the Run goroutine touches it.
	checkRuns map[string]int64
}

// New checks cfg and fills in defaults; it starts nothing.
func New(cfg Config, opts ...Option) (*Reporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: requestTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	// go-github resolves paths relative to BaseURL, which must end in a
	// slash. WithEnterpriseURLs is not used: it appends /api/v3 to hosts
	// that lack it, which would break test servers and proxies.
	api, err := url.Parse(strings.TrimRight(cfg.APIURL, "/") + "/")
	if err != nil {
		return nil, err // unreachable after Validate
	}
	r := &Reporter{
		cfg:          cfg,
		log:          cfg.Logger.With(logKeyRepo, cfg.Owner+"/"+cfg.Repo),
		clock:        realClock{},
		apiURL:       api,
		minBackoff:   defaultMinBackoff,
		maxBackoff:   defaultMaxBackoff,
		drainTimeout: defaultDrainTimeout,
		wake:         make(chan struct{}, 1),
		checkRuns:    map[string]int64{},
	}
	for _, opt := range opts {
		opt(r)
	}
	if r.minBackoff <= 0 || r.maxBackoff < r.minBackoff {
		return nil, errors.New("checks: backoff must be positive and its cap at least the first delay")
	}
	return r, nil
}

// Validation reports the validation of the commit sha: a completed
// "fastflow/validate" check run, success without problems, failure with one
// annotation per problem.
func (r *Reporter) Validation(sha string, problems []Problem) {
	if r == nil {
		return
	}
	if sha == "" {
		r.log.Warn("check run not reported: validation without a commit")
		return
	}
	r.enqueue(&report{
		key:      "validate:" + sha,
		kind:     kindValidation,
		sha:      sha,
		problems: append([]Problem(nil), problems...),
	})
}

// RunStarted reports that run is running: an in_progress
// "fastflow/<pipeline>" check run on run.Revision, linked to the run's page.
func (r *Reporter) RunStarted(run status.Run) {
	if r == nil || !r.usable(run) {
		return
	}
	r.enqueue(&report{key: "run:" + run.ID, kind: kindRunStarted, run: copyRun(run)})
}

// RunFinished reports the outcome of run, with the last lines of its log.
// logTail must already be masked: it is published as is. Only the last 50
// lines are kept. If RunStarted's check run was never created, a completed
// one is created instead.
func (r *Reporter) RunFinished(run status.Run, logTail []string) {
	if r == nil || !r.usable(run) {
		return
	}
	if !run.Status.Final() {
		r.log.Warn("check run not reported: run is not finished", logKeyRun, run.ID, logKeyStatus, run.Status)
		return
	}
	if len(logTail) > maxLogLines {
		logTail = logTail[len(logTail)-maxLogLines:]
	}
	r.enqueue(&report{
		key:     "run:" + run.ID,
		kind:    kindRunFinished,
		run:     copyRun(run),
		logTail: append([]string(nil), logTail...),
	})
}

func (r *Reporter) usable(run status.Run) bool {
	if run.ID == "" || run.Pipeline == "" || run.Revision == "" {
		r.log.Warn("check run not reported: run lacks an ID, pipeline or revision",
			logKeyRun, run.ID, logKeyPipeline, run.Pipeline)
		return false
	}
	return true
}

// copyRun keeps the fields a report reads and drops the maps and slices the
// caller may keep changing.
func copyRun(run status.Run) status.Run {
	run.Parameters, run.EnvNames = nil, nil
	if run.ExitCode != nil {
		code := *run.ExitCode
		run.ExitCode = &code
	}
	return run
}

// Pending returns the number of reports waiting for delivery.
func (r *Reporter) Pending() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

func (r *Reporter) enqueue(rep *report) {
	rep.enqueued = r.clock.Now()
	r.mu.Lock()
	var dropped *report
	if len(r.queue) >= r.cfg.QueueSize {
		// Drop the oldest report that is not on the wire; the one being
		// sent is left alone so the queue stays consistent with GitHub.
		if i := slices.IndexFunc(r.queue, func(q *report) bool { return !q.inflight }); i >= 0 {
			dropped = r.queue[i]
			r.queue = slices.Delete(r.queue, i, i+1)
		}
	}
	r.queue = append(r.queue, rep)
	r.mu.Unlock()
	if dropped != nil {
		r.log.Warn("check run report dropped: queue full", logKeyReport, dropped.key,
			logKeyKind, dropped.kind.String(), logKeyQueueSize, r.cfg.QueueSize)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run delivers reports until ctx ends, then keeps delivering for at most the
// drain timeout (WithDrainTimeout) and drops what is left with a log line.
// It returns nil after the drain; calling it a second time is an error.
func (r *Reporter) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("checks: Run called twice")
	}
	r.loop(ctx, false)
	// The reports of the last runs (often INTERRUPTED by this very shutdown)
	// are worth a short grace period, but never an unbounded one.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.drainTimeout)
	defer cancel()
	r.loop(drainCtx, true)
	r.mu.Lock()
	left := len(r.queue)
	r.queue = nil
	r.mu.Unlock()
	clear(r.checkRuns)
	if left > 0 {
		r.log.Warn("check run reports dropped at shutdown", logKeyCount, left)
	}
	return nil
}

// loop delivers until ctx ends or, when draining, until the queue is empty.
func (r *Reporter) loop(ctx context.Context, draining bool) {
	for ctx.Err() == nil {
		rep, next, empty, expired := r.pick(r.clock.Now())
		for _, q := range expired {
			r.dropped(q, "not delivered within MaxAge", q.lastErr)
		}
		if rep != nil {
			r.attempt(ctx, rep)
			continue
		}
		if draining && empty {
			return
		}
		var fire <-chan time.Time
		stop := func() bool { return false }
		if !next.IsZero() {
			fire, stop = r.clock.NewTimer(next.Sub(r.clock.Now()))
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-fire:
		}
		stop()
	}
}

// pick removes and returns the expired reports, and returns the first report
// that may be sent now. Otherwise it returns when the next one becomes ready
// (zero if none waits for a time) and whether the queue is empty.
func (r *Reporter) pick(now time.Time) (rep *report, next time.Time, empty bool, expired []*report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = slices.DeleteFunc(r.queue, func(q *report) bool {
		if q.inflight || now.Sub(q.enqueued) <= r.cfg.MaxAge {
			return false
		}
		expired = append(expired, q)
		r.forget(q)
		return true
	})

	blocked := map[string]bool{}
	for _, q := range r.queue {
		if blocked[q.key] {
			continue
		}
		// Only the oldest report of a key may go: this keeps a run's
		// completion behind its creation.
		blocked[q.key] = true
		ready := q.notBefore
		if r.pausedUntil.After(ready) {
			ready = r.pausedUntil
		}
		if ready.After(now) {
			if next.IsZero() || ready.Before(next) {
				next = ready
			}
			continue
		}
		q.inflight = true
		return q, time.Time{}, false, expired
	}
	return nil, next, len(r.queue) == 0, expired
}

// attempt sends rep and files the outcome: done, retry later, or dropped.
func (r *Reporter) attempt(ctx context.Context, rep *report) {
	err := r.send(ctx, rep)
	if err != nil && ctx.Err() != nil {
		// Shutdown interrupted the request; it was not GitHub's fault, so
		// the drain gets another go without a penalty.
		r.mu.Lock()
		rep.inflight = false
		r.mu.Unlock()
		return
	}
	now := r.clock.Now()
	var v verdict
	if err != nil {
		rep.attempts++
		rep.lastErr = err
		v = classify(err, rep.attempts, now, r.minBackoff, r.maxBackoff)
	}
	why := ""
	switch {
	case err == nil:
	case !v.retry:
		why = "GitHub refused it"
	case now.Add(v.delay).Sub(rep.enqueued) > r.cfg.MaxAge:
		// Waiting would only end in the same drop, later.
		why = "not delivered within MaxAge"
	}

	r.mu.Lock()
	rep.inflight = false
	if err == nil || why != "" {
		r.remove(rep)
		if why != "" {
			r.forget(rep)
		}
	} else {
		rep.notBefore = now.Add(v.delay)
		if v.rateLimited && rep.notBefore.After(r.pausedUntil) {
			r.pausedUntil = rep.notBefore
		}
	}
	r.mu.Unlock()

	switch {
	case err == nil:
		r.log.Debug("check run report delivered", logKeyReport, rep.key, logKeyKind, rep.kind.String())
	case why != "":
		r.dropped(rep, why, err)
	default:
		r.log.Debug("check run report will be retried", logKeyReport, rep.key, logKeyKind, rep.kind.String(),
			logKeyAttempt, rep.attempts, logKeyDelay, v.delay, logKeyError, err)
	}
}

// forget drops the check run ID of a run whose completion will never be
// sent, so the map does not grow with undeliverable runs.
func (r *Reporter) forget(rep *report) {
	if rep.kind == kindRunFinished {
		delete(r.checkRuns, rep.run.ID)
	}
}

func (r *Reporter) remove(rep *report) {
	if i := slices.Index(r.queue, rep); i >= 0 {
		r.queue = slices.Delete(r.queue, i, i+1)
	}
}

func (r *Reporter) dropped(rep *report, why string, err error) {
	args := []any{logKeyReport, rep.key, logKeyKind, rep.kind.String(), logKeyAttempt, rep.attempts,
		logKeyAge, r.clock.Now().Sub(rep.enqueued).Round(time.Millisecond)}
	if err != nil {
		args = append(args, logKeyError, err)
	}
	r.log.Warn("check run report dropped: "+why, args...)
}
