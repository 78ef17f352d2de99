package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

// maxBodyBytes bounds every JSON request body: a run request or a secret is
// a few hundred bytes, and nobody needs to make the server buffer more.
const maxBodyBytes = 1 << 20

// defaultLogStreamRateLimit is LOG_STREAM_RATE_LIMIT's default in lines per
// second per SSE reader.
const defaultLogStreamRateLimit = 100

// runIDPattern is the only shape of run ID the API accepts: a lowercase UUID
// as status.NewRunID makes. It is checked before the store or any file is
// touched, so user input never takes part in building a path.
var runIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// apiRoute is one route of the JSON API.
type apiRoute struct {
	method, pattern string
	handler         http.HandlerFunc
}

// apiRouteTable lists the API. apiRoutes registers it behind requireAuth;
// the tests also mount it on a bare mux to exercise the handlers alone.
func (s *Server) apiRouteTable() []apiRoute {
	return []apiRoute{
		{"GET", "/api/pipelines", s.apiListPipelines},
		{"GET", "/api/pipelines/{name}", s.apiGetPipeline},
		{"POST", "/api/pipelines/{name}/run", s.apiRunPipeline},
		{"GET", "/api/pipelines/{name}/runs", s.apiListPipelineRuns},
		{"GET", "/api/pipelines/{name}/stats", s.apiPipelineStats},
		{"POST", "/api/pipelines/{name}/stats/reset", s.apiResetPipelineStats},
		{"GET", "/api/runs", s.apiListRuns},
		{"GET", "/api/runs/{id}", s.apiGetRun},
		{"POST", "/api/runs/{id}/cancel", s.apiCancelRun},
		{"POST", "/api/runs/{id}/retry", s.apiRetryRun},
		{"GET", "/api/runs/{id}/logs", s.apiRunLogs},
		{"GET", "/api/runs/{id}/logs/stream", s.apiStreamLogs},
		{"GET", "/api/runs/{id}/metrics", s.apiRunMetrics},
		{"GET", "/api/runs/{id}/metrics/stream", s.apiStreamMetrics},
		{"GET", "/api/runs/{id}/health", s.apiRunHealth},
		{"GET", "/api/runs/{id}/notifications", s.apiRunNotifications},
		{"POST", "/api/sync", s.apiRequestSync},
		{"GET", "/api/sync/status", s.apiSyncStatus},
		{"GET", "/api/secrets", s.apiListSecrets},
		{"PUT", "/api/secrets/{key}", s.apiPutSecret},
		{"DELETE", "/api/secrets/{key}", s.apiDeleteSecret},
	}
}

// apiRoutes registers the JSON API under /api; no route of it is public.
func (s *Server) apiRoutes() {
	for _, rt := range s.apiRouteTable() {
		s.handle(rt.method, rt.pattern, false, rt.handler)
	}
}

// triggeredBy names the user behind a request for the run record: the one
// requireAuth let in.
func triggeredBy(r *http.Request) string { return userFrom(r.Context()) }

// logStreamRateLimit is LOG_STREAM_RATE_LIMIT in lines per second.
func (s *Server) logStreamRateLimit() int {
	if s.cfg.LogStreamRateLimit > 0 {
		return s.cfg.LogStreamRateLimit
	}
	return defaultLogStreamRateLimit
}

// opFailure is how an error of the operator or the store is answered: the
// JSON API writes it as an error object, the pages as a toast.
type opFailure struct {
	code       int
	title      string
	detail     any
	retryAfter string
}

// classifyOpError maps an error to its answer. Anything unexpected is a 500
// without internals; code 0 means the client went away.
func classifyOpError(err error) opFailure {
	var (
		perr *operator.ParamError
		eerr *operator.EnvError
	)
	switch {
	case errors.As(err, &perr):
		return opFailure{code: http.StatusUnprocessableEntity, title: "invalid parameters", detail: perr.Fields}
	case errors.As(err, &eerr):
		// The operator owns the env rules (names, size, reserved names
		// and allowed_env), so they are checked in one place.
		return opFailure{code: http.StatusUnprocessableEntity, title: "invalid env", detail: eerr.Fields}
	case errors.Is(err, operator.ErrPipelineNotFound), errors.Is(err, operator.ErrRunNotFound), errors.Is(err, status.ErrNotFound):
		return opFailure{code: http.StatusNotFound, title: "not found", detail: publicMessage(err)}
	case errors.Is(err, operator.ErrPipelineDisabled):
		return opFailure{code: http.StatusConflict, title: "pipeline is disabled", detail: publicMessage(err)}
	case errors.Is(err, operator.ErrPipelineInvalid):
		return opFailure{code: http.StatusConflict, title: "pipeline is invalid", detail: publicMessage(err)}
	case errors.Is(err, operator.ErrMissingSecret):
		return opFailure{code: http.StatusConflict, title: "secret missing", detail: publicMessage(err)}
	case errors.Is(err, operator.ErrRunNotActive):
		return opFailure{code: http.StatusConflict, title: "run is not in a state that allows this", detail: publicMessage(err)}
	case errors.Is(err, operator.ErrTooManyRuns):
		return opFailure{code: http.StatusTooManyRequests, title: "too many runs", detail: publicMessage(err), retryAfter: "5"}
	case errors.Is(err, operator.ErrRuntimeUnavailable):
		return opFailure{code: http.StatusServiceUnavailable, title: "container runtime unavailable", retryAfter: "10"}
	case errors.Is(err, operator.ErrLowDisk):
		return opFailure{code: http.StatusServiceUnavailable, title: "not enough free disk space", detail: publicMessage(err), retryAfter: "60"}
	case errors.Is(err, operator.ErrNotAccepting):
		return opFailure{code: http.StatusServiceUnavailable, title: "not accepting runs now", retryAfter: "5"}
	case errors.Is(err, status.ErrInvalidCursor):
		return opFailure{code: http.StatusBadRequest, title: "invalid cursor"}
	case errors.Is(err, status.ErrInvalidArgument):
		return opFailure{code: http.StatusBadRequest, title: "invalid argument", detail: publicMessage(err)}
	case errors.Is(err, context.Canceled):
		return opFailure{}
	default:
		return opFailure{code: http.StatusInternalServerError, title: "internal error"}
	}
}

// writeOpError answers an error of the operator or the store with its
// status code. Anything unexpected is logged once, here, and answers 500
// without internals.
func (s *Server) writeOpError(w http.ResponseWriter, r *http.Request, err error) {
	if f, ok := s.opFailed(w, r, err); ok {
		writeError(w, f.code, f.title, f.detail)
	}
}

// opFailed classifies err for an answer, logs it once if it is unexpected,
// and sets Retry-After; false when the client is gone and nobody reads one.
func (s *Server) opFailed(w http.ResponseWriter, r *http.Request, err error) (opFailure, bool) {
	f := classifyOpError(err)
	switch f.code {
	case 0:
		return f, false
	case http.StatusInternalServerError:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	return f, true
}

// publicMessage is the error text without the package prefix of the
// sentinel ("operator: "), which means nothing to an API client.
func publicMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "operator: ")
}

// decodeBody reads a JSON body of at most maxBodyBytes into v. An empty body
// leaves v as it is. Unknown fields are refused so a misspelt "parameters"
// is not silently ignored. Numbers in untyped places (a run's parameters)
// stay json.Number, so an integer above 2^53 keeps every digit on its way
// to the container instead of becoming a float64 in exponent form; the
// operator parses them by the declared type.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("body larger than %d bytes", tooBig.Limit)
		}
		return err
	}
	if dec.More() {
		return errors.New("body has data after the JSON value")
	}
	return nil
}

// runFromPath validates the {id} path value and loads the run. A malformed
// id answers 404 here, before the store or a file is touched.
func (s *Server) runFromPath(w http.ResponseWriter, r *http.Request) (status.Run, bool) {
	run, err := s.runByID(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, status.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found", "no run with that id")
		return status.Run{}, false
	case err != nil:
		s.writeOpError(w, r, err)
		return status.Run{}, false
	}
	return run, true
}

// runByID loads a run. A malformed id is status.ErrNotFound before the
// store or any file is touched, so user input never builds a path.
func (s *Server) runByID(ctx context.Context, id string) (status.Run, error) {
	if !runIDPattern.MatchString(id) {
		return status.Run{}, fmt.Errorf("run %q: %w", id, status.ErrNotFound)
	}
	run, err := s.cfg.Store.GetRun(ctx, id)
	if err != nil {
		return status.Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	return run, nil
}

// runJSON is a run as the API returns it (DESIGN.md "Run record").
type runJSON struct {
	ID                string            `json:"id"`
	Pipeline          string            `json:"pipeline"`
	Status            status.RunStatus  `json:"status"`
	ErrorType         *status.ErrorType `json:"error_type"`
	ExitCode          *int              `json:"exit_code"`
	Message           string            `json:"message"`
	Revision          string            `json:"revision"`
	Trigger           status.Trigger    `json:"trigger"`
	TriggeredBy       string            `json:"triggered_by"`
	Attempt           int               `json:"attempt"`
	RetryOf           *string           `json:"retry_of"`
	Parameters        map[string]string `json:"parameters"`
	EnvNames          []string          `json:"env_names"`
	QueuedAt          *time.Time        `json:"queued_at"`
	StartedAt         *time.Time        `json:"started_at"`
	FinishedAt        *time.Time        `json:"finished_at"`
	DurationSeconds   *float64          `json:"duration_seconds"`
	UVVersion         string            `json:"uv_version"`
	SetupDuration     float64           `json:"setup_duration"`
	PeakCPUPercent    float64           `json:"peak_cpu_percent"`
	PeakRAMMB         float64           `json:"peak_ram_mb"`
	SoftLimitExceeded bool              `json:"soft_limit_exceeded"`
	ContainerID       string            `json:"container_id"`
	LogURL            string            `json:"log_url"`
	// LogRemovedAt and LogRemovedReason are set once retention removed
	// the run's log and metrics files; log_url then answers 410.
	LogRemovedAt     *time.Time `json:"log_removed_at,omitempty"`
	LogRemovedReason string     `json:"log_removed_reason,omitempty"`
	MetricsURL       string     `json:"metrics_url"`
	// Queued is set for PENDING runs only: true while the run waits for
	// one of the MAX_CONCURRENT_RUNS slots, false once it holds one and is
	// starting.
	Queued *bool `json:"queued,omitempty"`
	// NotBefore is when a queued run may start at the earliest (a retry
	// waiting out its delay).
	NotBefore *time.Time `json:"not_before,omitempty"`
	// LogIncomplete says lines of the run's output may be missing from its
	// stored log; Message says why.
	LogIncomplete bool `json:"log_incomplete,omitempty"`
	// Truncated is set in a list item whose parameters or env_names were
	// cut to keep the page small (listItemCap); GET /api/runs/{id} has
	// them all.
	Truncated bool `json:"truncated,omitempty"`
}

// What one run may add to a list page (GET /api/runs and a pipeline's
// runs). A run may carry up to 64 env names and 32 KiB of env, and string
// parameters of any length up to the request body's limit, so a page of
// such runs would run to megabytes; a list is for finding a run, and its
// record (GET /api/runs/{id}) has every value. With these bounds one item
// is at most about 4 KiB whatever its run carries.
const (
	// listMaxNames is the env names, and the parameters, an item shows.
	listMaxNames = 20
	// listNameBytes bounds the env names of an item in all.
	listNameBytes = 1 << 10
	// listMaxValue is the bytes of one parameter value an item shows, and
	// listValueBytes of all of them; a longer value is cut at a character
	// boundary and ends in "…".
	listMaxValue   = 200
	listValueBytes = 2 << 10
)

// listItemCap cuts j's env names and parameters to what a list item shows
// and marks it Truncated when anything was left out or cut. Parameters are
// taken in name order, so the same run always shows the same ones.
func listItemCap(j runJSON) runJSON {
	names, size := 0, 0
	for _, n := range j.EnvNames {
		if names == listMaxNames || size+len(n) > listNameBytes {
			break
		}
		names++
		size += len(n)
	}
	if names < len(j.EnvNames) {
		j.EnvNames = j.EnvNames[:names:names]
		j.Truncated = true
	}
	size, long := 0, false
	for _, v := range j.Parameters {
		size += len(v)
		long = long || len(v) > listMaxValue
	}
	if len(j.Parameters) <= listMaxNames && size <= listValueBytes && !long {
		return j
	}
	j.Truncated = true
	params := make(map[string]string, listMaxNames)
	left := listValueBytes
	for _, n := range slices.Sorted(maps.Keys(j.Parameters)) {
		if len(params) == listMaxNames || left <= 0 {
			break
		}
		v := cutValue(j.Parameters[n], min(listMaxValue, left))
		params[n] = v
		left -= len(v)
	}
	j.Parameters = params
	return j
}

// cutValue is v cut to at most limit bytes at a character boundary, with
// "…" after the cut.
func cutValue(v string, limit int) string {
	if len(v) <= limit {
		return v
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}

func newRunJSON(r status.Run) runJSON {
	j := runJSON{
		ID:                r.ID,
		Pipeline:          r.Pipeline,
		Status:            r.Status,
		ExitCode:          r.ExitCode,
		Message:           r.Message,
		Revision:          r.Revision,
		Trigger:           r.Trigger,
		TriggeredBy:       r.TriggeredBy,
		Attempt:           r.Attempt,
		Parameters:        r.Parameters,
		EnvNames:          r.EnvNames,
		QueuedAt:          timeOrNil(r.QueuedAt),
		StartedAt:         timeOrNil(r.StartedAt),
		FinishedAt:        timeOrNil(r.FinishedAt),
		UVVersion:         r.UVVersion,
		SetupDuration:     round(r.SetupDuration.Seconds(), 3),
		PeakCPUPercent:    round(r.PeakCPUPercent, 1),
		PeakRAMMB:         round(float64(r.PeakRAMBytes)/(1<<20), 1),
		SoftLimitExceeded: r.SoftLimitExceeded,
		ContainerID:       r.ContainerID,
		LogURL:            "/api/runs/" + r.ID + "/logs",
		MetricsURL:        "/api/runs/" + r.ID + "/metrics",
		NotBefore:         timeOrNil(r.NotBefore),
		LogIncomplete:     r.LogIncomplete,
		LogRemovedAt:      timeOrNil(r.LogRemovedAt),
		LogRemovedReason:  r.LogRemovedReason,
	}
	if r.Status == status.RunPending {
		queued := !r.Admitted
		j.Queued = &queued
	}
	if r.ErrorType != "" {
		et := r.ErrorType
		j.ErrorType = &et
	}
	if r.RetryOf != "" {
		ro := r.RetryOf
		j.RetryOf = &ro
	}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		d := round(r.Duration().Seconds(), 3)
		j.DurationSeconds = &d
	}
	// Clients iterate these; null would make every one of them check.
	if j.Parameters == nil {
		j.Parameters = map[string]string{}
	}
	if j.EnvNames == nil {
		j.EnvNames = []string{}
	}
	return j
}

// timeOrNil is t in UTC, or nil for the zero time ("not yet").
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// listJSON is every list answer (DESIGN.md: {"items", "next_cursor"}).
type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (s *Server) apiGetRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runFromPath(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, newRunJSON(run))
}

// apiRunRequest is the body of POST /api/pipelines/{name}/run.
type apiRunRequest struct {
	Parameters map[string]any    `json:"parameters"`
	Env        map[string]string `json:"env"`
	// Queue asks for a run that finds every slot taken to wait for one
	// instead of being refused with 429.
	Queue bool `json:"queue"`
}

func (s *Server) apiRunPipeline(w http.ResponseWriter, r *http.Request) {
	var req apiRunRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request body", err.Error())
		return
	}
	run, err := s.cfg.Operator.RunPipeline(r.Context(), operator.RunRequest{
		Pipeline:    r.PathValue("name"),
		Parameters:  req.Parameters,
		Env:         req.Env,
		Trigger:     status.TriggerManual,
		TriggeredBy: triggeredBy(r),
		Queue:       req.Queue,
	})
	if err != nil {
		s.writeOpError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/runs/"+run.ID)
	writeJSON(w, runCreatedCode(run), newRunJSON(run))
}

// runCreatedCode is the answer to a run request that succeeded: 201 for a
// run that started, 202 for one that was queued (accepted, not started).
func runCreatedCode(run status.Run) int {
	if isQueued(run) {
		return http.StatusAccepted
	}
	return http.StatusCreated
}

// isQueued reports a run that waits for a slot.
func isQueued(run status.Run) bool {
	return run.Status == status.RunPending && !run.Admitted
}

func (s *Server) apiCancelRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runFromPath(w, r)
	if !ok {
		return
	}
	// The record is the truth: a run already final may still be in the
	// operator's hands for a moment while its container is removed.
	if run.Status.Final() {
		writeError(w, http.StatusConflict, "run is not in a state that allows this", "run "+run.ID+" already ended "+string(run.Status))
		return
	}
	if err := s.cfg.Operator.CancelRun(r.Context(), run.ID); err != nil {
		s.writeOpError(w, r, err)
		return
	}
	// The supervisor stops the container with its grace period; the run
	// turns CANCELLED then, so this answers "accepted", with the run as
	// it is now.
	writeJSON(w, http.StatusAccepted, newRunJSON(run))
}

func (s *Server) apiRetryRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runFromPath(w, r)
	if !ok {
		return
	}
	next, err := s.cfg.Operator.RetryRun(r.Context(), run.ID, triggeredBy(r))
	if err != nil {
		s.writeOpError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/runs/"+next.ID)
	writeJSON(w, http.StatusCreated, newRunJSON(next))
}

// Bounds of a runs page; the store clamps too, but an out-of-range value
// is a client mistake worth a 400 rather than a silent change.
const (
	minRunsLimit = 1
	maxRunsLimit = 1000
)

// parseRunFilter reads the query of a runs listing. Every problem is named
// in the returned map, keyed by parameter.
func parseRunFilter(q map[string][]string) (status.RunFilter, map[string]string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	var f status.RunFilter
	bad := map[string]string{}
	f.Pipeline = get("pipeline")
	for _, v := range q["status"] {
		for part := range strings.SplitSeq(v, ",") {
			st := status.RunStatus(strings.ToUpper(strings.TrimSpace(part)))
			if st == "" {
				continue
			}
			if !st.Valid() {
				bad["status"] = fmt.Sprintf("unknown status %q; want PENDING, RUNNING, SUCCESS, FAILED, CANCELLED, TIMEOUT or INTERRUPTED", part)
				continue
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	for _, v := range q["trigger"] {
		for part := range strings.SplitSeq(v, ",") {
			tr := status.Trigger(strings.ToLower(strings.TrimSpace(part)))
			if tr == "" {
				continue
			}
			if !tr.Valid() {
				bad["trigger"] = fmt.Sprintf("unknown trigger %q; want manual, schedule, retry or webhook", part)
				continue
			}
			f.Triggers = append(f.Triggers, tr)
		}
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := get(p.key)
		if v == "" {
			continue
		}
		t, err := parseQueryTime(v)
		if err != nil {
			bad[p.key] = fmt.Sprintf("%q is not a time: want RFC 3339 (2026-01-02T15:04:05Z), or 2026-01-02T15:04 or 2026-01-02 taken as UTC", v)
			continue
		}
		*p.dst = t.UTC()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		bad["until"] = "must be after since"
	}
	switch o := get("order"); o {
	case "", "desc":
		f.Order = status.OrderDesc
	case "asc":
		f.Order = status.OrderAsc
	default:
		bad["order"] = fmt.Sprintf("%q: want asc or desc", o)
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minRunsLimit || n > maxRunsLimit {
			bad["limit"] = fmt.Sprintf("%q: want an integer from %d to %d", v, minRunsLimit, maxRunsLimit)
		} else {
			f.Limit = n
		}
	}
	if v := get("cursor"); v != "" {
		if _, err := status.DecodeRunCursor(v); err != nil {
			bad["cursor"] = "not a cursor this server returned"
		} else {
			f.Cursor = v
		}
	}
	return f, bad
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, f status.RunFilter) {
	page, err := s.cfg.Store.ListRuns(r.Context(), f)
	if err != nil {
		s.writeOpError(w, r, fmt.Errorf("list runs: %w", err))
		return
	}
	out := listJSON[runJSON]{Items: make([]runJSON, 0, len(page.Runs)), NextCursor: page.NextCursor}
	for _, run := range page.Runs {
		out.Items = append(out.Items, listItemCap(newRunJSON(run)))
	}
	writeJSON(w, http.StatusOK, out)
}

// runsQuery parses the query string strictly: url.Values from r.URL.Query
// silently drops pairs with bad escapes, which would turn a mistyped
// cursor into the first page.
func runsQuery(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed query string", err.Error())
		return nil, false
	}
	return q, true
}

func (s *Server) apiListRuns(w http.ResponseWriter, r *http.Request) {
	q, ok := runsQuery(w, r)
	if !ok {
		return
	}
	f, bad := parseRunFilter(q)
	if len(bad) > 0 {
		writeError(w, http.StatusBadRequest, "invalid query", bad)
		return
	}
	s.listRuns(w, r, f)
}

func (s *Server) apiListPipelineRuns(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q, ok := runsQuery(w, r)
	if !ok {
		return
	}
	q.Del("pipeline")
	f, bad := parseRunFilter(q)
	if len(bad) > 0 {
		writeError(w, http.StatusBadRequest, "invalid query", bad)
		return
	}
	if known, err := s.pipelineKnown(r.Context(), name); err != nil {
		s.writeOpError(w, r, err)
		return
	} else if !known {
		writeError(w, http.StatusNotFound, "not found", "no pipeline named "+strconv.Quote(name))
		return
	}
	f.Pipeline = name
	s.listRuns(w, r, f)
}

// pipelineKnown reports whether name is a pipeline of the live revision or
// one the store has counters or runs of (a pipeline removed from the
// repository keeps its history).
func (s *Server) pipelineKnown(ctx context.Context, name string) (bool, error) {
	if _, _, ok := s.livePipeline(name); ok {
		return true, nil
	}
	_, err := s.cfg.Store.GetPipelineStats(ctx, name)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, status.ErrNotFound) {
		return false, fmt.Errorf("pipeline stats of %s: %w", name, err)
	}
	page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Pipeline: name, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("runs of %s: %w", name, err)
	}
	return len(page.Runs) > 0, nil
}

func (s *Server) apiRequestSync(w http.ResponseWriter, _ *http.Request) {
	s.cfg.Operator.RequestSync(operator.TriggerManual)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "requested"})
}

// syncJSON is one sync attempt.
type syncJSON struct {
	Trigger       string     `json:"trigger"`
	Outcome       string     `json:"outcome"`
	Revision      string     `json:"revision"`
	Branch        string     `json:"branch"`
	CommitMessage string     `json:"commit_message"`
	Pipelines     int        `json:"pipelines"`
	Problems      int        `json:"problems"`
	Error         string     `json:"error,omitempty"`
	StartedAt     *time.Time `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
}

func newSyncJSON(ev status.SyncEvent) syncJSON {
	return syncJSON{
		Trigger: ev.Trigger, Outcome: ev.Outcome, Revision: ev.Revision, Branch: ev.Branch,
		CommitMessage: ev.CommitMessage, Pipelines: ev.Pipelines, Problems: ev.Problems, Error: ev.Error,
		StartedAt: timeOrNil(ev.StartedAt), FinishedAt: timeOrNil(ev.FinishedAt),
	}
}

// syncStatusJSON is the answer of GET /api/sync/status.
type syncStatusJSON struct {
	Revision      string        `json:"revision"`
	Branch        string        `json:"branch"`
	CommitMessage string        `json:"commit_message"`
	CommitAuthor  string        `json:"commit_author"`
	CommittedAt   *time.Time    `json:"committed_at"`
	Running       bool          `json:"running"`
	LastSuccessAt *time.Time    `json:"last_success_at"`
	Last          *syncJSON     `json:"last"`
	History       []syncJSON    `json:"history"`
	PreHeat       []preheatJSON `json:"preheat"`
	UVCache       *uvCacheJSON  `json:"uv_cache"`
}

// uvCacheJSON is the uv cache's size and last clean-up; null when the
// operator does not measure it (the cache is not on its host).
type uvCacheJSON struct {
	Bytes            int64      `json:"bytes"`
	MaxBytes         int64      `json:"max_bytes"`
	MeasuredAt       *time.Time `json:"measured_at"`
	LastCleanupAt    *time.Time `json:"last_cleanup_at"`
	LastRemoved      int        `json:"last_removed"`
	LastRemovedBytes int64      `json:"last_removed_bytes"`
	// CleanupPendingSince is set while the cache is over its limit but
	// in use by runs or warm-ups.
	CleanupPendingSince *time.Time `json:"cleanup_pending_since"`
	Error               string     `json:"error,omitempty"`
}

// preheatJSON is one pipeline's dependency cache state.
type preheatJSON struct {
	Pipeline        string     `json:"pipeline"`
	HasRequirements bool       `json:"has_requirements"`
	Status          string     `json:"status"`
	LastCacheWarmup *time.Time `json:"last_cache_warmup"`
	Output          string     `json:"output,omitempty"`
}

// syncHistory is how many past syncs the status answer lists.
const syncHistory = 10

func (s *Server) apiSyncStatus(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Operator.SyncState()
	out := syncStatusJSON{Running: st.Running, LastSuccessAt: timeOrNil(st.LastSuccess), History: []syncJSON{}}
	if c := st.UVCache; !c.MeasuredAt.IsZero() {
		out.UVCache = &uvCacheJSON{Bytes: c.Bytes, MaxBytes: c.MaxBytes, MeasuredAt: timeOrNil(c.MeasuredAt),
			LastCleanupAt: timeOrNil(c.LastCleanup), LastRemoved: c.LastRemoved, LastRemovedBytes: c.LastRemovedBytes,
			CleanupPendingSince: timeOrNil(c.Postponed), Error: c.Error}
	}
	if st.Live != nil {
		out.Revision, out.Branch, out.CommitMessage = st.Live.Revision, st.Live.Branch, st.Live.CommitMessage
		out.CommitAuthor, out.CommittedAt = st.Live.CommitAuthor, timeOrNil(st.Live.CommittedAt)
	}
	if !st.Last.FinishedAt.IsZero() {
		last := newSyncJSON(st.Last)
		out.Last = &last
	}
	evs, err := s.cfg.Store.ListSyncs(r.Context(), syncHistory)
	if err != nil {
		s.writeOpError(w, r, fmt.Errorf("list syncs: %w", err))
		return
	}
	for _, ev := range evs {
		out.History = append(out.History, newSyncJSON(ev))
	}
	pls, err := s.cfg.Store.ListPipelines(r.Context())
	if err != nil {
		s.writeOpError(w, r, fmt.Errorf("list pipelines: %w", err))
		return
	}
	out.PreHeat = []preheatJSON{}
	for _, p := range pls {
		out.PreHeat = append(out.PreHeat, preheatJSON{Pipeline: p.Name, HasRequirements: p.HasRequirements,
			Status: p.CacheStatus, LastCacheWarmup: timeOrNil(p.LastCacheWarmup), Output: p.CacheOutput})
	}
	writeJSON(w, http.StatusOK, out)
}

// parseQueryTime reads a time bound: RFC 3339, or the zone-less forms an
// HTML date or datetime-local field sends, taken as UTC.
func parseQueryTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("parse time %q", v)
}
