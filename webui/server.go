package webui

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/secrets"
)

// Check is one dependency /health reports on. Any failing check marks the
// service degraded in /health, which still answers 200: the server keeps
// serving what does not need the dependency and the operator retries what
// does, so a probe that restarts the process on /health would make things
// worse. A failing critical check also makes /readyz answer 503, so a load
// balancer sends users elsewhere while it lasts.
type Check struct {
	Name     string
	Critical bool
	Probe    func(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	// Operator runs, cancels and retries runs and knows the live revision;
	// *operator.Operator in production, a fake in tests.
	Operator Operator
	// Store is where users, sessions, tokens, runs and counters live.
	Store  status.Store
	Checks []Check
	// SessionTTL is how long a login lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure; set it when BASE_URL
	// is https (behind a TLS-terminating proxy the request itself is not).
	SecureCookies bool
	// TrustedProxies are the reverse proxies (TRUSTED_PROXIES) whose
	// X-Forwarded-For, X-Forwarded-Proto and Forwarded headers are
	// believed: behind one of them the client a login limit counts is the
	// one the proxy names, and X-Forwarded-Proto: https marks cookies
	// Secure. Empty believes no forwarded header (see clientaddr.go).
	TrustedProxies []netip.Prefix
	// Secrets backs /api/secrets; nil answers 503 there.
	Secrets *secrets.Vault
	// LogStreamRateLimit caps the lines per second of one log stream
	// (LOG_STREAM_RATE_LIMIT); zero means the default of 100.
	LogStreamRateLimit int
	// WebhookSecret verifies GitHub deliveries (GITHUB_WEBHOOK_SECRET);
	// empty turns /hooks/github off. Pushes count only for RepoFullName
	// (owner/name; empty accepts any) and Branch.
	WebhookSecret string
	RepoFullName  string
	Branch        string
	// Metrics serves GET /metrics behind the API's authentication (a
	// bearer token or a session); nil leaves the route out.
	Metrics http.Handler
	// OnWebhook, if set, is told the status code of every answer of POST
	// /hooks/github, for the delivery counters.
	OnWebhook func(code int)
	// ProbeTimeout bounds each check of one /health request. Default 2s.
	ProbeTimeout time.Duration
	// Timeouts bound what a connection may hold; the zero value of a
	// field is its default (see Timeouts).
	Timeouts Timeouts
	Logger   *slog.Logger
}

// Timeouts bound how long a connection may hold the server, per phase of a
// request, so that a slow or silent client, authenticated or not, costs a
// goroutine and a few buffers for a bounded time only. They are per route
// rather than http.Server's ReadTimeout and WriteTimeout, which count from
// the start of the request and would cut every event stream and large
// download.
type Timeouts struct {
	// ReadHeader bounds reading a request's line and headers (the
	// slowloris attack). Default DefaultReadHeaderTimeout.
	ReadHeader time.Duration
	// Body bounds reading a request body, from the moment the handler is
	// called; a body still arriving after it is cut. Only requests that
	// have a body get the deadline (a GET never does, so an event stream
	// is not cut). POST /hooks/github sets a shorter one of its own.
	// Default DefaultBodyTimeout.
	Body time.Duration
	// Write is how long writing the answer may make no progress: each
	// write and flush moves the deadline this far ahead, so a download of
	// any size or an event stream (flushed at least every heartbeat) goes
	// on while the client reads, and a client that stops reading is cut
	// this long after the last write that went through. Default
	// DefaultWriteTimeout.
	Write time.Duration
	// Idle closes a keep-alive connection that has sent no new request for
	// this long. Default DefaultIdleTimeout.
	Idle time.Duration
}

// The defaults of Timeouts.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	// DefaultWriteTimeout is four SSE heartbeats (sseHeartbeat).
	DefaultWriteTimeout = 60 * time.Second
	DefaultIdleTimeout  = 2 * time.Minute
	// maxHeaderBytes bounds a request's headers, which are held in memory
	// until they are complete, before anyone is authenticated: a session
	// cookie and a bearer token are well under 1 kB; http.Server's default
	// of 1 MB would let each slow connection hold a megabyte.
	maxHeaderBytes = 64 << 10
)

func (t *Timeouts) setDefaults() {
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&t.ReadHeader, DefaultReadHeaderTimeout}, {&t.Body, DefaultBodyTimeout}, {&t.Write, DefaultWriteTimeout}, {&t.Idle, DefaultIdleTimeout}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
}

// Validate checks c.
func (c *Config) Validate() error {
	if c.Operator == nil || c.Store == nil {
		return errors.New("webui: an operator and a store are required")
	}
	for _, ch := range c.Checks {
		if ch.Name == "" || ch.Probe == nil {
			return errors.New("webui: every health check needs a name and a probe")
		}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return errors.New("webui: a trusted proxy prefix is invalid")
		}
	}
	return nil
}

// Server is Fast-Flow's HTTP handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	trust proxyTrust
	// routes is every route registered, for the test that proves each
	// non-public one refuses requests without credentials.
	routes []Route
}

// Route is one registered route.
type Route struct {
	Method, Pattern string
	// Public routes answer without credentials: health, login, the
	// signed webhook. Everything else is behind requireAuth.
	Public bool
}

// Routes lists the registered routes.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// handle registers a route; non-public ones are wrapped in requireAuth.
func (s *Server) handle(method, pattern string, public bool, h http.HandlerFunc) {
	var handler http.Handler = h
	if !public {
		handler = s.requireAuth(handler)
	}
	s.mux.Handle(method+" "+pattern, handler)
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Public: public})
}

// New builds the routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Timeouts.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), trust: proxyTrust{prefixes: slices.Clone(cfg.TrustedProxies)}}
	s.handle("GET", "/health", true, s.handleHealth)
	s.handle("GET", "/healthz", true, s.handleLive)
	s.handle("GET", "/readyz", true, s.handleReady)
	s.authRoutes()
	s.apiRoutes()
	s.webhookRoutes()
	s.metricsRoutes()
	s.uiRoutes()
	return s, nil
}

// HTTPServer is an http.Server for s with the connection-level limits of
// cfg.Timeouts (headers, idle keep-alive), a bound on header size, and
// errors logged to cfg.Logger; ServeHTTP applies the per-request ones.
// Serve it as it is: its ReadTimeout and WriteTimeout stay unset on
// purpose (see Timeouts).
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.Timeouts.ReadHeader,
		IdleTimeout:       s.cfg.Timeouts.Idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// ServeHTTP implements http.Handler. Requests no route takes get the mux's
// own verdict (404, or 405 with Allow) as a JSON error, like every other
// error answer.
//
// Every request gets its read and write deadlines here (see Timeouts).
// The body's deadline stays set once the body is read: a handler that
// outlived it would see its context cancelled, and none of a request
// with a body takes that long.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 { // a declared length, or -1 for chunked
		// Not every writer has a socket (httptest's recorder); then
		// there is no slow client to cut.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.Timeouts.Body))
	}
	w = newProgressWriter(w, s.cfg.Timeouts.Write)
	// Once, before any handler: the login limits, the webhook's
	// per-client slots and the cookies' Secure flag all ask who the client
	// is and how it came.
	r = s.trust.withForwarded(r)
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		// Through the mux, not h: Handler does not set the request's path
		// values ({name}, {id}), ServeHTTP does.
		s.mux.ServeHTTP(w, r)
		return
	}
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.code {
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, "not found", r.URL.Path)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, "method not allowed", r.Method)
	default:
		// A redirect to the cleaned path: pass it on as the mux wrote it.
		for k, v := range probe.header {
			w.Header()[k] = v
		}
		w.WriteHeader(probe.code)
	}
}

// progressWriter gives a response a rolling write deadline: each write
// and flush moves it timeout ahead, so the answer may take as long as it
// needs while the client reads it, and a client that stops reading is
// cut. A handler that lifts the deadline (SetWriteDeadline with the zero
// time, as an event stream does) keeps the rolling one, since a stream
// with none could be held open forever by a client that never reads; its
// heartbeat flushes keep it going. A handler that sets a deadline of its
// own gets exactly that one.
//
// It wraps the ResponseWriter and unwraps for http.ResponseController;
// like the writer it wraps, it is used from one goroutine.
type progressWriter struct {
	http.ResponseWriter
	ctl     *http.ResponseController
	timeout time.Duration
	// fixed: the handler set its own deadline.
	fixed bool
	// next is when the deadline is moved again: at most every
	// timeout/4 (and once a second), so a stream of small writes does not
	// reset a timer for each, and the deadline never lapses between
	// moves while writes go through.
	next time.Time
}

func newProgressWriter(w http.ResponseWriter, timeout time.Duration) *progressWriter {
	return &progressWriter{ResponseWriter: w, ctl: http.NewResponseController(w), timeout: timeout}
}

func (p *progressWriter) extend() {
	if p.fixed {
		return
	}
	now := time.Now()
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(min(time.Second, p.timeout/4))
	_ = p.ctl.SetWriteDeadline(now.Add(p.timeout))
}

func (p *progressWriter) WriteHeader(code int) {
	p.extend()
	p.ResponseWriter.WriteHeader(code)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.extend()
	return p.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController.Flush calls.
func (p *progressWriter) FlushError() error {
	p.extend()
	return p.ctl.Flush()
}

// Flush is for handlers that assert http.Flusher.
func (p *progressWriter) Flush() { _ = p.FlushError() }

// SetWriteDeadline is what http.ResponseController.SetWriteDeadline calls.
func (p *progressWriter) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		p.fixed = false
		p.next = time.Time{}
		p.extend()
		return nil
	}
	p.fixed = true
	return p.ctl.SetWriteDeadline(t)
}

// Unwrap lets http.ResponseController reach the writer's other features.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// statusProbe records what the mux's fallback handler would answer.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(code int)        { p.code = code }

// CheckResult is one dependency in the /health answer.
type CheckResult struct {
	OK       bool   `json:"ok"`
	Critical bool   `json:"critical"`
	Error    string `json:"error,omitempty"`
}

// SyncHealth is the sync part of the /health answer.
type SyncHealth struct {
	Revision      string     `json:"revision"`
	Branch        string     `json:"branch,omitempty"`
	CommitMessage string     `json:"commit_message,omitempty"`
	Pipelines     int        `json:"pipelines"`
	Problems      int        `json:"problems"`
	LastSyncAt    *time.Time `json:"last_sync_at"`
	LastSuccessAt *time.Time `json:"last_success_at"`
	Outcome       string     `json:"outcome,omitempty"`
	Trigger       string     `json:"trigger,omitempty"`
	Error         string     `json:"error,omitempty"`
	Running       bool       `json:"running"`
}

// DiskHealth is one folder's free space in the /health answer. Its path
// is left out: /health answers without credentials.
type DiskHealth struct {
	Name      string `json:"name"`
	FreeBytes uint64 `json:"free_bytes"`
	// Low: below MIN_FREE_DISK; new runs are refused.
	Low   bool   `json:"low"`
	Error string `json:"error,omitempty"`
}

// Health is the /health answer.
type Health struct {
	// Status is "ok" or "degraded": serving, but a dependency does not
	// answer (the database included: the operator retries what it must
	// store until it is back), a sync failed, a folder is low on disk, or
	// nothing is published yet.
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
	Sync   SyncHealth             `json:"sync"`
	Disk   []DiskHealth           `json:"disk"`
	// Replicas are the `fastflow serve` processes sharing the database.
	Replicas ReplicasHealth `json:"replicas"`
}

// ReplicasHealth says who leads and which replicas are alive.
type ReplicasHealth struct {
	// Self is the replica answering; Leader the one holding the leader
	// lease ("" while none does), Term its lease's term.
	Self   string `json:"self"`
	Leader string `json:"leader"`
	Term   int64  `json:"term"`
	// Error is why this replica could not renew or read the lease.
	Error string          `json:"error,omitempty"`
	List  []ReplicaHealth `json:"list"`
}

// ReplicaHealth is one replica and its last heartbeat.
type ReplicaHealth struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	Leader    bool      `json:"leader"`
}

// replicasHealth reads the replicas; a store that does not answer leaves
// the list empty (the database check says why).
func (s *Server) replicasHealth(ctx context.Context) ReplicasHealth {
	l := s.cfg.Operator.Leadership()
	out := ReplicasHealth{Self: l.Self, Leader: l.Holder, Term: l.Term, Error: l.LastError, List: []ReplicaHealth{}}
	rs, err := s.cfg.Operator.Replicas(ctx)
	if err != nil {
		s.log.Warn("list replicas", "err", err)
		return out
	}
	for _, r := range rs {
		out.List = append(out.List, ReplicaHealth{ID: r.ID, Host: r.Host, Version: r.Version, StartedAt: r.StartedAt,
			LastSeen: r.LastSeen, Leader: r.ID == l.Holder})
	}
	return out
}

// diskCheck is the check the free space makes: not critical (the server
// still shows everything), but failing while a folder is low, since new
// runs are refused then.
const diskCheck = "disk"

// diskHealth reports the operator's folders and the disk check they make.
func (s *Server) diskHealth() ([]DiskHealth, CheckResult) {
	out := []DiskHealth{}
	res := CheckResult{OK: true}
	var problems []string
	for _, d := range s.cfg.Operator.DiskSpace() {
		h := DiskHealth{Name: d.Name, FreeBytes: d.FreeBytes, Low: d.Low}
		switch {
		case d.Err != nil:
			// The error names the path; the log has it, the answer not.
			s.log.Warn("read free disk space", "folder", d.Name, "err", d.Err)
			h.Error = "free space unknown"
			problems = append(problems, d.Name+": free space unknown")
		case d.Low:
			problems = append(problems, d.Name+": "+formatBytes(int64(d.FreeBytes))+" free, below MIN_FREE_DISK")
		}
		out = append(out, h)
	}
	if len(problems) > 0 {
		res = CheckResult{OK: false, Error: strings.Join(problems, "; ")}
	}
	return out, res
}

func (s *Server) health(ctx context.Context) Health {
	h := Health{Status: "ok", Checks: make(map[string]CheckResult, len(s.cfg.Checks))}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range s.cfg.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeTimeout)
			defer cancel()
			res := CheckResult{OK: true, Critical: c.Critical}
			if err := c.Probe(ctx); err != nil {
				res = CheckResult{OK: false, Critical: c.Critical, Error: err.Error()}
			}
			mu.Lock()
			h.Checks[c.Name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	var disk CheckResult
	h.Disk, disk = s.diskHealth()
	h.Checks[diskCheck] = disk

	st := s.cfg.Operator.SyncState()
	if st.Live != nil {
		h.Sync.Revision = st.Live.Revision
		h.Sync.Branch = st.Live.Branch
		h.Sync.CommitMessage = st.Live.CommitMessage
		h.Sync.Pipelines = len(st.Live.Pipelines)
		h.Sync.Problems = st.Live.ProblemCount()
	}
	if !st.Last.FinishedAt.IsZero() {
		t := st.Last.FinishedAt
		h.Sync.LastSyncAt = &t
		h.Sync.Outcome = st.Last.Outcome
		h.Sync.Trigger = st.Last.Trigger
		h.Sync.Error = st.Last.Error
	}
	if !st.LastSuccess.IsZero() {
		t := st.LastSuccess
		h.Sync.LastSuccessAt = &t
	}
	h.Sync.Running = st.Running
	h.Replicas = s.replicasHealth(ctx)

	for _, c := range h.Checks {
		if !c.OK {
			h.Status = "degraded"
		}
	}
	if h.Status == "ok" && (st.Live == nil || h.Sync.Error != "") {
		h.Status = "degraded"
	}
	return h
}

// handleHealth answers 200 whatever the status: the status and the checks
// say what is wrong, and /readyz is the answer for load balancers.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.health(r.Context()))
}

// criticalDown reports whether a critical check of h failed.
func criticalDown(h Health) bool {
	for _, c := range h.Checks {
		if !c.OK && c.Critical {
			return true
		}
	}
	return false
}

// handleLive answers as long as the process serves HTTP: restarting it would
// not fix a database or a remote that is down.
func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady is ready once the operator admits runs, critical
// dependencies answer and a revision is live, so a load balancer does not
// send users to an instance that would refuse them.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.cfg.Operator.Ready():
	default:
		// Still reconciling the last process's runs or on its first sync.
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	h := s.health(r.Context())
	if criticalDown(h) || h.Sync.Revision == "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// apiError is every error answer: {"error": "...", "detail": ...}.
type apiError struct {
	Error  string `json:"error"`
	Detail any    `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string, detail any) {
	writeJSON(w, code, apiError{Error: msg, Detail: detail})
}

// writeJSON encodes into memory first so an encoding error can still become
// a clean 500 instead of a truncated body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
