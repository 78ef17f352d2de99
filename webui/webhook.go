package webui

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-playground/webhooks/v6/github"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

const (
	// webhookMaxBody bounds what an unauthenticated caller can make us
	// buffer: the whole body must be read before its HMAC can be checked.
	// GitHub caps deliveries at 25 MB, but a push to a pipelines repository
	// is a few kB (its commit list stops at 20 commits); a push beyond this
	// is answered 413 and the AUTO_SYNC_INTERVAL poll picks it up.
	webhookMaxBody = 10 << 20
	// webhookStoreBudget bounds the delivery-id write so the answer stays
	// inside GitHub's and our own 100 ms aim even when the database is
	// slow. Running out of it fails open (see ServeHTTP).
	webhookStoreBudget = 50 * time.Millisecond
	// signaturePrefix is how GitHub names the algorithm in
	// X-Hub-Signature-256.
	signaturePrefix = "sha256="
)

// Webhook answers' status values.
const (
	webhookAccepted  = "accepted"
	webhookIgnored   = "ignored"
	webhookDuplicate = "duplicate delivery, ignored"
)

// webhookAnswer is the body of every non-error answer of POST /hooks/github;
// GitHub shows it in the delivery log, so the reason is spelled out.
type webhookAnswer struct {
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	Event    string `json:"event,omitempty"`
	Delivery string `json:"delivery,omitempty"`
	// After is the pushed commit, for a push that starts a sync.
	After string `json:"after,omitempty"`
	// Pong answers a ping, the event GitHub sends when a hook is created.
	Pong   bool `json:"pong,omitempty"`
	HookID int  `json:"hook_id,omitempty"`
}

// webhookReceiver handles POST /hooks/github. It is a struct of explicit
// values rather than a Server method so tests can build it without a whole
// server and so the operator is reached only through requestSync.
type webhookReceiver struct {
	// secret is GITHUB_WEBHOOK_SECRET; empty turns the endpoint off.
	secret string
	// repo is the "owner/name" whose pushes count; empty accepts any.
	repo string
	// branch is GIT_BRANCH; empty accepts a push to any branch (a sync of
	// an unchanged branch is a cheap no-op), but never a tag.
	branch string
	store  status.DeliveryStore
	// requestSync must not block: the answer goes out before the sync
	// runs. Operator.RequestSync qualifies.
	requestSync func(trigger string)
	log         *slog.Logger
	// hook only decodes: the signature is checked before it sees the body,
	// so it is built without the secret.
	hook *github.Webhook
}

func newWebhookReceiver(secret, repo, branch string, store status.DeliveryStore, requestSync func(string), log *slog.Logger) *webhookReceiver {
	hook, err := github.New()
	if err != nil {
		// New without options cannot fail; a library change that makes
		// it fail must not go unnoticed.
		panic("webui: github.New: " + err.Error())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &webhookReceiver{secret: secret, repo: repo, branch: branch, store: store, requestSync: requestSync, log: log, hook: hook}
}

// The three settings the lead adds to Config (WebhookSecret, RepoFullName,
// Branch). Until then the endpoint is off; switch each to s.cfg.X.
func (s *Server) webhookSecret() string { return s.cfg.WebhookSecret }
func (s *Server) webhookRepo() string   { return s.cfg.RepoFullName }
func (s *Server) webhookBranch() string { return s.cfg.Branch }

// webhookRoutes registers the GitHub webhook. It is public: the HMAC
// signature is its credential, a session or token is never sent by GitHub.
func (s *Server) webhookRoutes() {
	rc := newWebhookReceiver(s.webhookSecret(), s.webhookRepo(), s.webhookBranch(),
		s.cfg.Store, s.cfg.Operator.RequestSync, s.log.With("component", "webhook"))
	s.handle("POST", "/hooks/github", true, rc.ServeHTTP)
}

// ServeHTTP verifies the signature over the raw body before anything reads
// the payload (STYLE 29), then decides, records and enqueues; it never waits
// for a sync.
func (rc *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.secret == "" {
		// 404, not 503: the endpoint is off by configuration, not briefly
		// unavailable, and GitHub's delivery log shows why.
		writeError(w, http.StatusNotFound, "webhook receiver is off", "GITHUB_WEBHOOK_SECRET is not set")
		return
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		// Refused before the body is read: unsigned callers cost nothing.
		writeError(w, http.StatusUnauthorized, "invalid signature", "X-Hub-Signature-256 is missing")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhookMaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "payload too large", map[string]int{"limit_bytes": webhookMaxBody})
			return
		}
		writeError(w, http.StatusBadRequest, "cannot read the body", err.Error())
		return
	}
	if !validSignature(rc.secret, sig, body) {
		// One message for missing prefix, bad hex and wrong MAC: a caller
		// without the secret learns nothing about which check failed.
		writeError(w, http.StatusUnauthorized, "invalid signature", "X-Hub-Signature-256 does not match the body")
		return
	}

	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	log := rc.log.With("event", event, "delivery", delivery)
	if event == "" || delivery == "" {
		// GitHub always sends both; without the id a redelivery could
		// not be recognised.
		writeError(w, http.StatusBadRequest, "X-GitHub-Event and X-GitHub-Delivery are required", nil)
		return
	}

	r.Body = io.NopCloser(bytes.NewReader(body))
	payload, err := rc.hook.Parse(r, github.PushEvent, github.PingEvent)
	switch {
	case errors.Is(err, github.ErrEventNotFound):
		// GitHub Apps get some events unasked (check_suite, installation);
		// 202 keeps them from showing as failed deliveries.
		log.Debug("webhook event ignored")
		writeJSON(w, http.StatusAccepted, webhookAnswer{Status: webhookIgnored, Reason: "event " + event + " is not handled", Event: event, Delivery: delivery})
		return
	case err != nil:
		log.Warn("webhook payload malformed", "err", err)
		writeError(w, http.StatusBadRequest, "malformed payload", err.Error())
		return
	}

	switch pl := payload.(type) {
	case github.PingPayload:
		log.Info("webhook ping", "hook_id", pl.HookID)
		writeJSON(w, http.StatusOK, webhookAnswer{Status: "ok", Event: event, Delivery: delivery, Pong: true, HookID: pl.HookID})
	case github.PushPayload:
		rc.push(r.Context(), w, log, delivery, pl)
	default:
		// Parse returns a payload of the event asked for; anything else
		// is a library change.
		writeError(w, http.StatusInternalServerError, "unexpected payload type", nil)
	}
}

func (rc *webhookReceiver) push(ctx context.Context, w http.ResponseWriter, log *slog.Logger, delivery string, pl github.PushPayload) {
	ignore := func(reason string) {
		log.Debug("webhook push ignored", "reason", reason)
		writeJSON(w, http.StatusAccepted, webhookAnswer{Status: webhookIgnored, Reason: reason, Event: "push", Delivery: delivery})
	}
	// GitHub repository names are case-insensitive.
	if rc.repo != "" && !strings.EqualFold(pl.Repository.FullName, rc.repo) {
		ignore("push to repository " + pl.Repository.FullName + ", not " + rc.repo)
		return
	}
	branch, isBranch := strings.CutPrefix(pl.Ref, "refs/heads/")
	if !isBranch {
		ignore("push to " + pl.Ref + ", not a branch")
		return
	}
	if rc.branch != "" && branch != rc.branch {
		ignore("push to branch " + branch + ", not " + rc.branch)
		return
	}

	// Only deliveries that would start a sync are recorded: those are the
	// ones a redelivery must not repeat, and check_suite noise stays out.
	rctx, cancel := context.WithTimeout(ctx, webhookStoreBudget)
	err := rc.store.RecordDelivery(rctx, status.Delivery{ID: delivery, Event: "push", ReceivedAt: time.Now()})
	cancel()
	switch {
	case errors.Is(err, status.ErrConflict):
		log.Info("webhook redelivery ignored")
		writeJSON(w, http.StatusOK, webhookAnswer{Status: webhookDuplicate, Event: "push", Delivery: delivery})
		return
	case err != nil:
		// Fail open: a sync is idempotent, so syncing a delivery that
		// might be a duplicate costs one no-op fetch, while dropping a
		// real push would leave the new commit waiting for the poll.
		log.Warn("webhook delivery not recorded; syncing anyway", "err", err)
	}
	rc.requestSync(operator.TriggerWebhook)
	log.Info("webhook push: sync requested", "ref", pl.Ref, "after", pl.After)
	writeJSON(w, http.StatusAccepted, webhookAnswer{Status: webhookAccepted, Event: "push", Delivery: delivery, After: pl.After})
}

// validSignature reports whether header is "sha256=<hex HMAC-SHA256 of body
// under secret>". The comparison is on the decoded bytes in constant time,
// so neither the hex case nor timing tells a forger anything.
func validSignature(secret, header string, body []byte) bool {
	hexMAC, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
