package webui

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/secrets"
)

// Check is one dependency /health reports on. A failing critical check makes
// /health and /readyz answer 503; a failing non-critical one only marks the
// service degraded.
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
	// ProbeTimeout bounds each check of one /health request. Default 2s.
	ProbeTimeout time.Duration
	Logger       *slog.Logger
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
	return nil
}

// Server is Fast-Flow's HTTP handler.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
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
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.handle("GET", "/health", true, s.handleHealth)
	s.handle("GET", "/healthz", true, s.handleLive)
	s.handle("GET", "/readyz", true, s.handleReady)
	s.authRoutes()
	s.apiRoutes()
	s.webhookRoutes()
	s.uiRoutes()
	return s, nil
}

// ServeHTTP implements http.Handler. Requests no route takes get the mux's
// own verdict (404, or 405 with Allow) as a JSON error, like every other
// error answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	// Status is "ok", "degraded" (serving, but a sync or a non-critical
	// dependency failed, a folder is low on disk, or nothing is published
	// yet) or "unavailable".
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
	Sync   SyncHealth             `json:"sync"`
	Disk   []DiskHealth           `json:"disk"`
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

	for _, c := range h.Checks {
		if !c.OK && c.Critical {
			h.Status = "unavailable"
		} else if !c.OK && h.Status == "ok" {
			h.Status = "degraded"
		}
	}
	if h.Status == "ok" && (st.Live == nil || h.Sync.Error != "") {
		h.Status = "degraded"
	}
	return h
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := s.health(r.Context())
	code := http.StatusOK
	if h.Status == "unavailable" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
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
	if h.Status == "unavailable" || h.Sync.Revision == "" {
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
