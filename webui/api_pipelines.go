package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
)

// pipelineJSON is a pipeline as the API returns it (DESIGN.md "Run record":
// the pipeline's fixed fields, plus what a form needs to start a run).
type pipelineJSON struct {
	Name              string                       `json:"name"`
	Revision          string                       `json:"revision"`
	Valid             bool                         `json:"valid"`
	Problems          []repo.Problem               `json:"problems"`
	Enabled           bool                         `json:"enabled"`
	Description       string                       `json:"description"`
	Tags              []string                     `json:"tags"`
	Schedules         []scheduleJSON               `json:"schedules"`
	Timezone          string                       `json:"timezone"`
	Catchup           schemas.Catchup              `json:"catchup"`
	ConcurrencyPolicy schemas.ConcurrencyPolicy    `json:"concurrency_policy"`
	Limits            limitsJSON                   `json:"limits"`
	HasRequirements   bool                         `json:"has_requirements"`
	LastCacheWarmup   *time.Time                   `json:"last_cache_warmup"`
	CacheStatus       string                       `json:"cache_status"`
	Secrets           []string                     `json:"secrets"`
	Parameters        map[string]schemas.Parameter `json:"parameters"`
	Stats             statsJSON                    `json:"stats"`
	LastRun           *runJSON                     `json:"last_run"`
}

// scheduleJSON is one schedule with its next fire. NextFireAt is null for a
// pipeline that does not fire (disabled or invalid) and for interval
// schedules, whose next fire depends on the scheduler's last one.
type scheduleJSON struct {
	Name       string     `json:"name,omitempty"`
	Cron       string     `json:"cron,omitempty"`
	Every      string     `json:"every,omitempty"`
	Timezone   string     `json:"timezone"`
	NextFireAt *time.Time `json:"next_fire_at"`
}

// limitsJSON are the pipeline's limits; zero means unset. Memory is in
// bytes, CPU in cores, the timeout in seconds.
type limitsJSON struct {
	CPUHardLimit  float64 `json:"cpu_hard_limit"`
	CPUSoftLimit  float64 `json:"cpu_soft_limit"`
	MemHardLimit  int64   `json:"mem_hard_limit"`
	MemSoftLimit  int64   `json:"mem_soft_limit"`
	Timeout       int     `json:"timeout"`
	RetryAttempts *int    `json:"retry_attempts"`
	RetryDelay    *int    `json:"retry_delay"`
}

// statsJSON are a pipeline's run counters.
type statsJSON struct {
	TotalRuns      int64 `json:"total_runs"`
	SuccessfulRuns int64 `json:"successful_runs"`
	FailedRuns     int64 `json:"failed_runs"`
	// CancelledRuns and InterruptedRuns are the runs someone or something
	// stopped; they are not in TotalRuns, so the success rate
	// (SuccessfulRuns of TotalRuns) says how the pipeline does.
	CancelledRuns   int64      `json:"cancelled_runs"`
	InterruptedRuns int64      `json:"interrupted_runs"`
	CountersResetAt *time.Time `json:"counters_reset_at"`
}

func newStatsJSON(p status.Pipeline) statsJSON {
	return statsJSON{TotalRuns: p.TotalRuns, SuccessfulRuns: p.SuccessfulRuns, FailedRuns: p.FailedRuns,
		CancelledRuns: p.CancelledRuns, InterruptedRuns: p.InterruptedRuns, CountersResetAt: timeOrNil(p.CountersResetAt)}
}

func newLimitsJSON(spec schemas.Spec) limitsJSON {
	return limitsJSON{
		CPUHardLimit: spec.CPUHardLimit, CPUSoftLimit: spec.CPUSoftLimit,
		MemHardLimit: int64(spec.MemHardLimit), MemSoftLimit: int64(spec.MemSoftLimit),
		Timeout: spec.Timeout, RetryAttempts: spec.RetryAttempts, RetryDelay: spec.RetryDelay,
	}
}

// newPipelineJSON combines the repository's view of a pipeline with the
// store's; now is the reference for the next fires.
func newPipelineJSON(revision string, p repo.Pipeline, st status.Pipeline, last *status.Run, now time.Time) pipelineJSON {
	spec := p.Spec
	j := pipelineJSON{
		Name:              p.Name,
		Revision:          revision,
		Valid:             p.Valid(),
		Problems:          p.Problems,
		Enabled:           spec.IsEnabled(),
		Description:       spec.Description,
		Tags:              spec.Tags,
		Schedules:         []scheduleJSON{},
		Timezone:          spec.Location().String(),
		Catchup:           spec.CatchupPolicy(),
		ConcurrencyPolicy: spec.Concurrency(),
		Limits:            newLimitsJSON(spec),
		HasRequirements:   p.HasRequirements,
		LastCacheWarmup:   timeOrNil(st.LastCacheWarmup),
		CacheStatus:       st.CacheStatus,
		Secrets:           spec.Secrets,
		Parameters:        spec.Parameters,
		Stats:             newStatsJSON(st),
	}
	fires := j.Valid && j.Enabled
	for _, sc := range spec.AllSchedules() {
		sj := scheduleJSON{Name: sc.Name, Cron: sc.Cron, Every: sc.Every, Timezone: sc.Location().String()}
		if fires {
			sj.NextFireAt = nextFire(sc, now)
		}
		j.Schedules = append(j.Schedules, sj)
	}
	if last != nil {
		lr := newRunJSON(*last)
		j.LastRun = &lr
	}
	if j.Problems == nil {
		j.Problems = []repo.Problem{}
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if j.Secrets == nil {
		j.Secrets = []string{}
	}
	if j.Parameters == nil {
		j.Parameters = map[string]schemas.Parameter{}
	}
	return j
}

// nextFire is the schedule's next fire after now, in UTC, computed exactly
// as the scheduler does (daylight-saving days included); nil when there is
// none.
func nextFire(sc schemas.Schedule, now time.Time) *time.Time {
	t, err := operator.NextFire(sc, now)
	if err != nil {
		return nil
	}
	return timeOrNil(t)
}

// pipelineView loads what the store knows about p for its JSON.
func (s *Server) pipelineView(ctx context.Context, revision string, p repo.Pipeline, now time.Time) (pipelineJSON, error) {
	st, err := s.cfg.Store.GetPipelineStats(ctx, p.Name)
	if err != nil && !errors.Is(err, status.ErrNotFound) {
		return pipelineJSON{}, fmt.Errorf("stats of %s: %w", p.Name, err)
	}
	page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Pipeline: p.Name, Limit: 1})
	if err != nil {
		return pipelineJSON{}, fmt.Errorf("last run of %s: %w", p.Name, err)
	}
	var last *status.Run
	if len(page.Runs) > 0 {
		last = &page.Runs[0]
	}
	return newPipelineJSON(revision, p, st, last, now), nil
}

func (s *Server) apiListPipelines(w http.ResponseWriter, r *http.Request) {
	out := listJSON[pipelineJSON]{Items: []pipelineJSON{}}
	snap := s.cfg.Operator.Snapshot()
	if snap == nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	now := time.Now()
	tag := r.URL.Query().Get("tag")
	for _, p := range snap.Pipelines {
		if tag != "" && !hasTag(p.Spec.Tags, tag) {
			continue
		}
		j, err := s.pipelineView(r.Context(), snap.Revision, p, now)
		if err != nil {
			s.writeOpError(w, r, err)
			return
		}
		out.Items = append(out.Items, j)
	}
	writeJSON(w, http.StatusOK, out)
}

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

// livePipeline looks name up in the live revision; false before the first
// sync and for a name the revision does not have.
func (s *Server) livePipeline(name string) (*repo.Snapshot, repo.Pipeline, bool) {
	snap := s.cfg.Operator.Snapshot()
	if snap == nil {
		return nil, repo.Pipeline{}, false
	}
	p, ok := snap.Pipeline(name)
	return snap, p, ok
}

// pipelineRemoved reports a pipeline the live revision does not have:
// removed from the repository (or renamed) after its runs. Before the
// first sync nothing counts as removed.
func (s *Server) pipelineRemoved(name string) bool {
	snap := s.cfg.Operator.Snapshot()
	if snap == nil {
		return false
	}
	_, ok := snap.Pipeline(name)
	return !ok
}

// limitsOf are the live limits of a pipeline, zero when it is gone from the
// repository.
func (s *Server) limitsOf(name string) limitsJSON {
	_, p, ok := s.livePipeline(name)
	if !ok {
		return limitsJSON{}
	}
	return newLimitsJSON(p.Spec)
}

func (s *Server) apiGetPipeline(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	snap, p, ok := s.livePipeline(name)
	if !ok {
		writeError(w, http.StatusNotFound, "not found", "no pipeline named "+strconv.Quote(name))
		return
	}
	j, err := s.pipelineView(r.Context(), snap.Revision, p, time.Now())
	if err != nil {
		s.writeOpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// pipelineStats answers the counters of name: zeros for a live pipeline
// that never ran, 404 for a name nobody knows.
func (s *Server) pipelineStats(w http.ResponseWriter, r *http.Request, name string) {
	st, err := s.cfg.Store.GetPipelineStats(r.Context(), name)
	if errors.Is(err, status.ErrNotFound) {
		known, kerr := s.pipelineKnown(r.Context(), name)
		if kerr != nil {
			s.writeOpError(w, r, kerr)
			return
		}
		if !known {
			writeError(w, http.StatusNotFound, "not found", "no pipeline named "+strconv.Quote(name))
			return
		}
		st, err = status.Pipeline{Name: name}, nil
	}
	if err != nil {
		s.writeOpError(w, r, fmt.Errorf("stats of %s: %w", name, err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Name string `json:"name"`
		statsJSON
	}{name, newStatsJSON(st)})
}

func (s *Server) apiPipelineStats(w http.ResponseWriter, r *http.Request) {
	s.pipelineStats(w, r, r.PathValue("name"))
}

func (s *Server) apiResetPipelineStats(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := s.cfg.Store.ResetCounters(r.Context(), name)
	if err != nil && !errors.Is(err, status.ErrNotFound) {
		s.writeOpError(w, r, fmt.Errorf("reset stats of %s: %w", name, err))
		return
	}
	// A live pipeline without counters yet has nothing to reset; the
	// answer is the same zeros either way, and an unknown name is 404.
	s.pipelineStats(w, r, name)
}
