package webui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

const (
	// uiLogLines is how many of a run's last log lines its page carries,
	// the same cap the live viewer keeps.
	uiLogLines = 2000
	// uiRecentRuns is how many runs the pipeline page lists; its chart
	// shows as many as durationChart draws.
	uiRecentRuns = 20
	// uiRefresh is how often, in seconds, app.js reloads the main part of
	// the overview pages.
	uiRefresh = 10
)

// cacheWords names the dependency cache state of a pipeline for people.
func cacheWords(p pipelineJSON) string {
	if !p.HasRequirements {
		return "none"
	}
	switch p.CacheStatus {
	case operator.CacheWarm:
		return "cached"
	case operator.CacheWarming:
		return "warming"
	case operator.CacheFailed, operator.CacheError:
		return "failed"
	default:
		return "not cached"
	}
}

// limitsShort is a pipeline's hard limits in a few characters: "1 CPU ·
// 512 MiB · 30m0s", the timeout as runs get it (CONTAINER_TIMEOUT when
// pipeline.json sets none).
func limitsShort(l limitsJSON, pol operator.Policy) string {
	var parts []string
	if l.CPUHardLimit > 0 {
		parts = append(parts, formatCores(l.CPUHardLimit))
	}
	if l.MemHardLimit > 0 {
		parts = append(parts, formatBytes(l.MemHardLimit))
	}
	if pol.Timeout > 0 {
		parts = append(parts, formatDuration(pol.Timeout))
	}
	return strings.Join(parts, " · ")
}

// successRate is successes over finished runs since the counters were last
// reset, or "—" before the first.
func successRate(st statsJSON) string {
	if st.TotalRuns == 0 {
		return "—"
	}
	return strconv.FormatInt(st.SuccessfulRuns*100/st.TotalRuns, 10) + " %"
}

// uiPipeline is a pipeline as the dashboard and the pipeline page show it.
type uiPipeline struct {
	pipelineJSON
	FirstProblem string
	NextFire     *time.Time
	Running      int
	Cache        string
	LimitsShort  string
	SuccessRate  string
	// Runnable: valid and enabled. NeedsInput: a parameter must be given,
	// so the run button leads to the form instead of starting a run.
	Runnable, NeedsInput bool
	// Hidden rows do not match the dashboard's filter.
	Hidden bool
	// Policy is the timeout and retries runs get, defaults included.
	Policy operator.Policy
}

func newUIPipeline(j pipelineJSON, running int, pol operator.Policy) uiPipeline {
	p := uiPipeline{pipelineJSON: j, Running: running, Cache: cacheWords(j), LimitsShort: limitsShort(j.Limits, pol),
		SuccessRate: successRate(j.Stats), Runnable: j.Valid && j.Enabled, Policy: pol}
	if len(j.Problems) > 0 {
		p.FirstProblem = j.Problems[0].String()
	}
	for _, sc := range j.Schedules {
		if sc.NextFireAt != nil && (p.NextFire == nil || sc.NextFireAt.Before(*p.NextFire)) {
			p.NextFire = sc.NextFireAt
		}
	}
	for _, prm := range j.Parameters {
		if prm.Required && prm.Default == nil {
			p.NeedsInput = true
		}
	}
	return p
}

// activeRuns are the pending and running runs, counted per pipeline.
type activeRuns struct {
	runs             []status.Run
	running, pending map[string]int
}

// activeByPipeline lists the pending and running runs in one query.
func (s *Server) activeByPipeline(ctx context.Context) (activeRuns, error) {
	page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Statuses: []status.RunStatus{status.RunRunning, status.RunPending}, Limit: 1000})
	if err != nil {
		return activeRuns{}, fmt.Errorf("active runs: %w", err)
	}
	a := activeRuns{runs: page.Runs, running: map[string]int{}, pending: map[string]int{}}
	for _, r := range page.Runs {
		if r.Status == status.RunRunning {
			a.running[r.Pipeline]++
		} else {
			a.pending[r.Pipeline]++
		}
	}
	return a, nil
}
