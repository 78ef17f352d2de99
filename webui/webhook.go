package webui

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/webhooks/v6/github"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

const (
	// webhookMaxBody bounds one delivery. GitHub caps deliveries at 25 MB,
	// but a push to a pipelines repository is a few kB; a push beyond this
	// is answered 413 and the AUTO_SYNC_INTERVAL poll picks it up.
	webhookMaxBody = 10 << 20
	// webhookBodyBudget bounds the bytes all unverified bodies together
	// may make the server hold: a body's signature can only be checked
	// once all of it is in, so until then anyone can make us hold it. It
	// is held in webhookChunk pieces reused from delivery to delivery, so
	// an attack makes no garbage and the memory stays this size, and it
	// fits one delivery of webhookMaxBody beside many small ones.
	webhookBodyBudget = 16 << 20
	webhookChunk      = 64 << 10
	// webhookReaders bounds the bodies read at once, and
	// webhookReadersPerClient those of one client address (clientKey), so
	// a single address cannot take every slot from GitHub's deliveries.
	webhookReaders          = 32
	webhookReadersPerClient = 4
	// webhookBodyTimeout bounds a delivery from the first byte of its body
	// being awaited to the last, waiting for room included: GitHub itself
	// gives up on a delivery after 10 s, so a body that takes longer is a
	// slow client holding room, not a delivery anyone waits for.
	webhookBodyTimeout = 10 * time.Second
	// webhookRoomWait is how long a delivery waits for room before it is
	// refused with 503: a real delivery takes milliseconds to read, so a
	// wait this long means the room is held by slow bodies.
	webhookRoomWait = 2 * time.Second
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
	// requestSync asks for a sync that makes revision (the push's
	// "after") live; it must not block: the answer goes out before the
	// sync runs. Operator.RequestSyncTo qualifies, and drops requests for
	// a commit already live, so a burst of deliveries of one push costs
	// one sync.
	requestSync func(trigger, revision string)
	log         *slog.Logger
	// hook only decodes: the signature is checked before it sees the body,
	// so it is built without the secret.
	hook *github.Webhook
	// room bounds what unverified bodies hold (webhookBodyBudget and the
	// reader slots).
	room *bodyRoom
	// bodyTimeout and roomWait are webhookBodyTimeout and webhookRoomWait;
	// tests shorten them.
	bodyTimeout, roomWait time.Duration
	// refusals keeps a flood of refused deliveries from flooding the log.
	refusals logThrottle
}

// logThrottle lets one log line through a minute, counting the events in
// between, so an attack is logged without the attacker writing our logs.
// It is safe for concurrent use.
type logThrottle struct {
	mu     sync.Mutex
	last   time.Time
	missed int
}

// note counts an event and reports whether to log it now, with how many
// events the line stands for.
func (l *logThrottle) note(now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.missed++
	if !l.last.IsZero() && now.Sub(l.last) < time.Minute {
		return 0, false
	}
	n := l.missed
	l.last, l.missed = now, 0
	return n, true
}

func newWebhookReceiver(secret, repo, branch string, store status.DeliveryStore, requestSync func(trigger, revision string), log *slog.Logger) *webhookReceiver {
	hook, err := github.New()
	if err != nil {
		// New without options cannot fail; a library change that makes
		// it fail must not go unnoticed.
		panic("webui: github.New: " + err.Error())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &webhookReceiver{
		secret: secret, repo: repo, branch: branch, store: store, requestSync: requestSync, log: log, hook: hook,
		room:        newBodyRoom(webhookBodyBudget, webhookChunk, webhookReaders, webhookReadersPerClient),
		bodyTimeout: webhookBodyTimeout,
		roomWait:    webhookRoomWait,
	}
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
		s.cfg.Store, s.cfg.Operator.RequestSyncTo, s.log.With("component", "webhook"))
	s.handle("POST", "/hooks/github", true, s.observeWebhook(rc.ServeHTTP))
}

// ServeHTTP verifies the signature over the raw body before anything reads
// the payload (STYLE 29), then decides, records and enqueues; it never waits
// for a sync.
//
// Until the signature is checked the caller is anyone, so what it can make
// the server hold is bounded before a byte of the body is read: the
// headers are checked first (a missing or malformed signature, a body
// without a length or over webhookMaxBody cost nothing), the body must fit
// the room left of webhookBodyBudget and a reader slot, and all of it must
// arrive within webhookBodyTimeout. The HMAC is computed as the body
// streams in; the library's Parse sees only a verified body.
func (rc *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.secret == "" {
		// 404, not 503: the endpoint is off by configuration, not briefly
		// unavailable, and GitHub's delivery log shows why.
		writeError(w, http.StatusNotFound, "webhook receiver is off", "GITHUB_WEBHOOK_SECRET is not set")
		return
	}
	// The deadline covers the wait for room and the body, and cuts a slow
	// body at the socket: the read fails and the connection is closed.
	// httptest's recorder cannot set one; there is no socket to cut then.
	ctl := http.NewResponseController(w)
	_ = ctl.SetReadDeadline(time.Now().Add(rc.bodyTimeout))
	want, ok := parseSignature(r.Header.Get("X-Hub-Signature-256"))
	if !ok {
		// Refused before the body is read: unsigned callers cost nothing.
		// One message for a missing header, a missing prefix, bad hex and
		// (below) a wrong MAC: a caller without the secret learns nothing
		// about which check failed.
		refuseBody(w, http.StatusUnauthorized, "invalid signature", "X-Hub-Signature-256 is missing or does not match the body")
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	if event == "" || delivery == "" {
		// GitHub always sends both; without the id a redelivery could
		// not be recognised.
		refuseBody(w, http.StatusBadRequest, "X-GitHub-Event and X-GitHub-Delivery are required", nil)
		return
	}
	switch {
	case r.ContentLength < 0:
		// GitHub always sends Content-Length; without one the room a
		// body needs is not known before it is read.
		refuseBody(w, http.StatusLengthRequired, "Content-Length is required", nil)
		return
	case r.ContentLength > webhookMaxBody:
		refuseBody(w, http.StatusRequestEntityTooLarge, "payload too large", map[string]int{"limit_bytes": webhookMaxBody})
		return
	}
	log := rc.log.With("event", event, "delivery", delivery)

	wctx, cancel := context.WithTimeout(r.Context(), rc.roomWait)
	body, err := rc.room.acquire(wctx, clientKey(r), r.ContentLength)
	cancel()
	if err != nil {
		// GitHub shows the 503 in its delivery log, and the poll picks the
		// push up; the client is asked to go, its body unread.
		if n, ok := rc.refusals.note(time.Now()); ok {
			log.Warn("webhook deliveries refused: no room for unverified bodies (a slow or large-body flood?)",
				"refused", n, "client", clientKey(r), "bytes", r.ContentLength)
		}
		w.Header().Set("Retry-After", "10")
		refuseBody(w, http.StatusServiceUnavailable, "too many deliveries being received", "retry later")
		return
	}
	defer body.release()
	mac := hmac.New(sha256.New, []byte(rc.secret))
	if err := body.readFrom(r.Body, r.ContentLength, mac); err != nil {
		if isTimeout(err) {
			refuseBody(w, http.StatusRequestTimeout, "body not received in time", map[string]string{"limit": rc.bodyTimeout.String()})
			return
		}
		refuseBody(w, http.StatusBadRequest, "cannot read the body", "it ended before its Content-Length")
		return
	}
	// Read whole and in time: the rest of the answer is no longer bounded
	// by the body's deadline (the sync request and the store write are).
	_ = ctl.SetReadDeadline(time.Time{})
	if !hmac.Equal(want, mac.Sum(nil)) {
		refuseBody(w, http.StatusUnauthorized, "invalid signature", "X-Hub-Signature-256 is missing or does not match the body")
		return
	}

	// Verified: from here the body is GitHub's. The chunks go back to the
	// room now rather than after the sync is requested.
	payloadBytes := body.bytes()
	body.release()
	r.Body = io.NopCloser(bytes.NewReader(payloadBytes))
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

// refuseBody answers an error without reading (the rest of) the body, and
// closes the connection after it: whatever of the body is still on its way
// is not read. net/http would otherwise read up to 256 kB of it, until the
// body's deadline, hoping to reuse the connection; a read deadline of now
// makes that read fail at once.
func refuseBody(w http.ResponseWriter, code int, msg string, detail any) {
	w.Header().Set("Connection", "close")
	writeError(w, code, msg, detail)
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// isTimeout reports a read cut by its deadline.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
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
	// A branch deletion pushes the all-zero commit; that names nothing to
	// wait for, so it asks for a plain sync (which reports the branch gone).
	after := pl.After
	if strings.Trim(after, "0") == "" {
		after = ""
	}
	rc.requestSync(operator.TriggerWebhook, after)
	log.Info("webhook push: sync requested", "ref", pl.Ref, "after", pl.After)
	writeJSON(w, http.StatusAccepted, webhookAnswer{Status: webhookAccepted, Event: "push", Delivery: delivery, After: pl.After})
}

// parseSignature decodes X-Hub-Signature-256, "sha256=<hex HMAC-SHA256 of
// the body>". It is checked before the body is read, so a header that
// cannot match any body costs nothing; the comparison with the computed
// MAC is on the decoded bytes in constant time (hmac.Equal), so neither
// the hex case nor timing tells a forger anything.
func parseSignature(header string) ([]byte, bool) {
	hexMAC, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return nil, false
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return nil, false
	}
	return got, true
}

// bodyRoom bounds what unverified webhook bodies hold at once: the bytes
// (chunks of a fixed size out of a fixed budget), the bodies being read,
// and the bodies of one client. A body takes the chunks its
// Content-Length needs before its first byte is read, so a caller cannot
// make the server hold more than that whatever it sends, and a caller who
// claims a large body and then trickles it holds its chunks only until its
// deadline. Chunks handed back are kept for the next body: after an attack
// the budget stays allocated (at most webhookBodyBudget), but an attack
// makes no garbage for the collector to let pile up.
//
// It is safe for concurrent use.
type bodyRoom struct {
	chunkSize int
	perClient int
	// total is the budget in chunks, maxReaders the reader slots.
	total, maxReaders int

	mu sync.Mutex
	// chunks and readers are what may still be handed out.
	chunks, readers int
	clients         map[string]int
	free            [][]byte
	// freed is closed, and replaced, each time room is handed back.
	freed chan struct{}
}

func newBodyRoom(budget, chunkSize, readers, perClient int) *bodyRoom {
	return &bodyRoom{
		chunkSize: chunkSize, perClient: perClient, total: budget / chunkSize, maxReaders: readers,
		chunks: budget / chunkSize, readers: readers,
		clients: map[string]int{}, freed: make(chan struct{}),
	}
}

// acquire waits until client may read one more body of size bytes and
// room for it is free, or until ctx ends.
func (b *bodyRoom) acquire(ctx context.Context, client string, size int64) (*roomBody, error) {
	need := int((size + int64(b.chunkSize) - 1) / int64(b.chunkSize))
	if need > b.total {
		return nil, errNoRoom
	}
	for {
		b.mu.Lock()
		if b.readers > 0 && b.clients[client] < b.perClient && b.chunks >= need {
			b.readers--
			b.clients[client]++
			b.chunks -= need
			body := &roomBody{room: b, client: client, chunks: make([][]byte, need)}
			for i := range body.chunks {
				if n := len(b.free); n > 0 {
					body.chunks[i], b.free = b.free[n-1], b.free[:n-1]
				} else {
					body.chunks[i] = make([]byte, b.chunkSize)
				}
			}
			b.mu.Unlock()
			return body, nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for room for a webhook body: %w", ctx.Err())
		}
	}
}

// inUse reports the chunks and reader slots handed out, for tests.
func (b *bodyRoom) inUse() (chunks, readers int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total - b.chunks, b.maxReaders - b.readers
}

// roomBody is one body's share of a bodyRoom.
type roomBody struct {
	room   *bodyRoom
	client string
	chunks [][]byte
	// size is the bytes read into chunks.
	size     int64
	released bool
}

// readFrom reads exactly size bytes of r into the chunks, writing each
// piece to mac as it arrives.
func (rb *roomBody) readFrom(r io.Reader, size int64, mac hash.Hash) error {
	left := size
	for _, c := range rb.chunks {
		n := min(int64(len(c)), left)
		if _, err := io.ReadFull(r, c[:n]); err != nil {
			return fmt.Errorf("read webhook body: %w", err)
		}
		mac.Write(c[:n])
		left -= n
	}
	rb.size = size
	return nil
}

// bytes is a copy of the body read: only a verified body is copied, so only
// GitHub can make the server hold it twice.
func (rb *roomBody) bytes() []byte {
	out := make([]byte, 0, rb.size)
	left := rb.size
	for _, c := range rb.chunks {
		n := min(int64(len(c)), left)
		out = append(out, c[:n]...)
		left -= n
	}
	return out
}

// release hands the chunks and the reader slot back; later calls do
// nothing.
func (rb *roomBody) release() {
	if rb.released {
		return
	}
	rb.released = true
	b := rb.room
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readers++
	if b.clients[rb.client]--; b.clients[rb.client] <= 0 {
		delete(b.clients, rb.client)
	}
	b.chunks += len(rb.chunks)
	b.free = append(b.free, rb.chunks...)
	rb.chunks = nil
	close(b.freed)
	b.freed = make(chan struct{})
}
