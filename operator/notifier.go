package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/operator/notify"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/secrets"
)

// NotifyConfig is how run notifications are delivered. The zero value
// delivers with the defaults.
type NotifyConfig struct {
	// BaseURL (BASE_URL) makes the run page's address part of every
	// notification; empty leaves the link out.
	BaseURL string
	// Timeout bounds one attempt; 0 means 10 s.
	Timeout time.Duration
	// MaxAttempts is how often a notification is tried before it is
	// marked failed; 0 means 6 (the last about 40 minutes after the run).
	MaxAttempts int
	// FirstRetry is the wait after the first failed attempt, tripled for
	// each further one; 0 means 10 s.
	FirstRetry time.Duration
	// Transport carries the requests; nil is http.DefaultTransport. For
	// tests and proxies.
	Transport http.RoundTripper
	// UserAgent names the sender; empty means "Fast-Flow".
	UserAgent string
}

// notifier delivers run notifications. Enqueueing happens on the path that
// records a run's end (runEnded), in the store, so a restart loses none;
// delivery happens on run's loop, off every run's path: a slow or dead
// receiver never delays a run. Each notification is claimed with a lease
// before it is sent, so two loops (replicas) never send it at once.
type notifier struct {
	cfg    NotifyConfig
	store  status.Store
	clk    Clock
	log    *slog.Logger
	client *http.Client
	// secrets resolves the secrets that hold webhook URLs and signing
	// keys; nil fails every delivery with a clear message.
	secrets SecretSource
	poked   chan struct{}
}

func newNotifier(cfg NotifyConfig, store status.Store, src SecretSource, clk Clock, log *slog.Logger) *notifier {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.FirstRetry <= 0 {
		cfg.FirstRetry = 10 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Fast-Flow"
	}
	tr := cfg.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	return &notifier{
		cfg: cfg, store: store, secrets: src, clk: clk, log: log,
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: notify.NoRedirects},
		poked:  make(chan struct{}, 1),
	}
}

func (n *notifier) poke() {
	select {
	case n.poked <- struct{}{}:
	default:
	}
}

// claimBatch bounds the notifications one pass sends at once.
const claimBatch = 16

// run delivers due notifications until ctx ends: at once, after each
// poke, and when the earliest pending one falls due (at most a minute
// apart, so another replica's enqueue is seen).
func (n *notifier) run(ctx context.Context) {
	t := n.clk.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-n.poked:
		}
		for ctx.Err() == nil {
			sent, err := n.pass(ctx)
			if err != nil && ctx.Err() == nil {
				n.log.Error("notifications", "err", err)
			}
			if err != nil || sent < claimBatch {
				break
			}
		}
		t.Reset(n.untilNext(ctx))
	}
}

// untilNext is the wait before the next pass.
func (n *notifier) untilNext(ctx context.Context) time.Duration {
	const idle = time.Minute
	next, err := n.store.NextNotificationAt(ctx)
	if err != nil || next.IsZero() {
		return idle
	}
	return min(max(next.Sub(n.clk.Now()), 0), idle)
}

// pass claims the due notifications and sends them side by side, waiting
// for all; it reports how many it claimed.
func (n *notifier) pass(ctx context.Context) (int, error) {
	now := n.clk.Now().UTC()
	claimed, err := n.store.ClaimNotifications(ctx, now, n.cfg.Timeout+30*time.Second, claimBatch)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	var wg sync.WaitGroup
	for _, c := range claimed {
		wg.Go(func() { n.deliver(ctx, c) })
	}
	wg.Wait()
	return len(claimed), nil
}

// deliver makes one attempt and records it. An attempt cut short by the
// operator stopping is not recorded: the lease hands it to the next start.
func (n *notifier) deliver(ctx context.Context, c status.Notification) {
	log := n.log.With("run", c.RunID, "target", c.Target, "event", c.Event)
	err := n.send(ctx, c)
	if ctx.Err() != nil {
		return
	}
	c.Attempts++
	now := n.clk.Now().UTC()
	switch {
	case err == nil:
		c.State, c.LastError, c.DeliveredAt, c.NextAttemptAt = status.NotificationDelivered, "", now, now
		log.Info("notification delivered", "attempts", c.Attempts)
	default:
		c.LastError = err.Error()
		var ne *notify.Error
		permanent := errors.As(err, &ne) && ne.Permanent
		if permanent || c.Attempts >= n.cfg.MaxAttempts {
			c.State, c.NextAttemptAt = status.NotificationFailed, now
			log.Warn("notification failed; giving up", "attempts", c.Attempts, "err", err)
		} else {
			wait := n.cfg.FirstRetry
			for range c.Attempts - 1 {
				wait *= 3
			}
			if ne != nil && ne.RetryAfter > wait {
				wait = ne.RetryAfter
			}
			c.State, c.NextAttemptAt = status.NotificationPending, now.Add(wait)
			log.Warn("notification not delivered; will retry", "attempts", c.Attempts, "in", wait, "err", err)
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := n.store.RecordNotificationAttempt(rctx, c); err != nil {
		log.Error("record notification attempt", "err", err)
	}
}

// send resolves the target's secrets, renders the body and posts it.
func (n *notifier) send(ctx context.Context, c status.Notification) error {
	run, err := n.store.GetRun(ctx, c.RunID)
	if err != nil {
		return fmt.Errorf("read the run: %w", err)
	}
	names := []string{c.Target}
	if c.SigningSecret != "" {
		names = append(names, c.SigningSecret)
	}
	if n.secrets == nil {
		return notify.Permanent("no secret store is configured to hold the webhook URL")
	}
	vals, err := n.secrets.Secrets(ctx, names)
	if errors.Is(err, secrets.ErrMissing) {
		// Someone may set it before the attempts run out.
		return fmt.Errorf("the secret is not set: %w", err)
	}
	if err != nil {
		return fmt.Errorf("read the secrets: %w", err)
	}
	u, err := notify.ParseURL(vals[c.Target])
	if err != nil {
		return notify.Permanent(fmt.Sprintf("the value of secret %s is not an http or https URL", c.Target))
	}
	msg := notify.Message{Event: c.Event, Run: run, RunURL: n.runURL(run.ID),
		DeliveryID: run.ID + "/" + c.Target, SentAt: n.clk.Now()}
	body, err := notify.Body(c.Format, msg)
	if err != nil {
		return notify.Permanent(err.Error())
	}
	req := notify.Request{URL: u, Body: body, Event: c.Event, DeliveryID: msg.DeliveryID, UserAgent: n.cfg.UserAgent}
	if c.SigningSecret != "" {
		req.SigningKey = []byte(vals[c.SigningSecret])
	}
	return notify.Send(ctx, n.client, req)
}

func (n *notifier) runURL(id string) string {
	if n.cfg.BaseURL == "" {
		return ""
	}
	return strings.TrimRight(n.cfg.BaseURL, "/") + "/runs/" + url.PathEscape(id)
}

// runEnded enqueues the notifications of a run whose final status was just
// recorded, for the targets of its pipeline (at the run's revision) whose
// events match. A failure that will be retried notifies nobody yet: its
// last attempt does. Errors are logged; they never fail the run.
func (o *Operator) runEnded(ctx context.Context, run status.Run) {
	if run.Status == status.RunCancelled || !run.Status.Final() {
		return
	}
	p := o.pipelineAt(ctx, run)
	if len(p.Spec.Notify) == 0 {
		return
	}
	failed := run.Status != status.RunSuccess
	if (run.Status == status.RunFailed || run.Status == status.RunTimeout) && run.Attempt <= o.PolicyFor(p.Spec).RetryAttempts {
		return
	}
	recovered := false
	if !failed {
		var err error
		if recovered, err = o.followsFailure(ctx, run); err != nil {
			o.log.Error("notifications: find the previous outcome", "run", run.ID, "err", err)
		}
	}
	var ns []status.Notification
	for _, t := range p.Spec.Notify {
		ev, ok := eventFor(t, run.Status, recovered)
		if !ok {
			continue
		}
		ns = append(ns, status.Notification{RunID: run.ID, Target: t.Secret, Format: string(t.BodyFormat()),
			SigningSecret: t.SigningSecret, Event: string(ev), NextAttemptAt: o.now()})
	}
	if len(ns) == 0 {
		return
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.store.EnqueueNotifications(ectx, ns); err != nil {
		o.log.Error("notifications: enqueue", "run", run.ID, "err", err)
		return
	}
	o.notifier.poke()
}

// eventFor picks the one event a target hears about for an outcome, the
// most specific it asked for: timeout before failure, recovery before
// success.
func eventFor(t schemas.NotifyTarget, st status.RunStatus, recovered bool) (schemas.NotifyEvent, bool) {
	var prefs []schemas.NotifyEvent
	switch {
	case st == status.RunSuccess && recovered:
		prefs = []schemas.NotifyEvent{schemas.EventRecovery, schemas.EventSuccess}
	case st == status.RunSuccess:
		prefs = []schemas.NotifyEvent{schemas.EventSuccess}
	case st == status.RunTimeout:
		prefs = []schemas.NotifyEvent{schemas.EventTimeout, schemas.EventFailure}
	default:
		prefs = []schemas.NotifyEvent{schemas.EventFailure}
	}
	want := t.Events()
	for _, p := range prefs {
		for _, w := range want {
			if w == p {
				return p, true
			}
		}
	}
	return "", false
}

// followsFailure reports whether the outcome before run's retry chain was a
// failure: the newest run of the pipeline that ended (not cancelled) and
// was queued before the chain's first attempt. A chain's attempts run one
// after the other, so that run is the previous chain's last word.
func (o *Operator) followsFailure(ctx context.Context, run status.Run) (bool, error) {
	root := run
	for range 1000 {
		if root.RetryOf == "" {
			break
		}
		prev, err := o.store.GetRun(ctx, root.RetryOf)
		if errors.Is(err, status.ErrNotFound) {
			break // retention removed the start of the chain
		}
		if err != nil {
			return false, err
		}
		root = prev
	}
	page, err := o.store.ListRuns(ctx, status.RunFilter{Pipeline: run.Pipeline, Until: root.QueuedAt, Limit: 1,
		Statuses: []status.RunStatus{status.RunSuccess, status.RunFailed, status.RunTimeout, status.RunInterrupted}})
	if err != nil {
		return false, err
	}
	return len(page.Runs) == 1 && page.Runs[0].Status != status.RunSuccess, nil
}
