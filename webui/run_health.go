package webui

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/health"
)

// containerHealthJSON is the container_health object of GET
// /api/runs/{id}/health: the history the operator kept of the health check
// the run's image defines.
type containerHealthJSON struct {
	health.History
	// Since is when the current state was reached.
	Since time.Time `json:"since"`
	// LastOutput is the latest probe's output ("" without one).
	LastOutput string `json:"last_output"`
}

// readHealth returns the run's health history, nil for a run without one
// (its container has no health check, it never ran, or retention removed
// it with the log).
func readHealth(run status.Run) (*containerHealthJSON, error) {
	path, err := health.Path(run.MetricsPath, run.ID)
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", run.ID, err)
	}
	h, err := health.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", run.ID, err)
	}
	if h.Changes == nil {
		h.Changes = []health.Change{}
	}
	if h.Probes == nil {
		h.Probes = []health.Probe{}
	}
	out := &containerHealthJSON{History: h, Since: h.Since()}
	if p, ok := h.LastProbe(); ok {
		out.LastOutput = p.Output
	}
	return out, nil
}

// healthView is the run page's health check block, newest first.
type healthView struct {
	State         string
	FailingStreak int
	Since         *time.Time
	Probes        []probeView
	Changes       []changeView
	APIURL        string
}

type probeView struct {
	Start    *time.Time
	Took     string
	ExitCode int
	Output   string
}

type changeView struct {
	At    *time.Time
	State string
}

func newHealthView(runID string, h *containerHealthJSON) *healthView {
	if h == nil {
		return nil
	}
	v := &healthView{State: h.State, FailingStreak: h.FailingStreak, Since: timeOrNil(h.Since), APIURL: "/api/runs/" + runID + "/health"}
	for _, p := range slices.Backward(h.Probes) {
		v.Probes = append(v.Probes, probeView{Start: timeOrNil(p.Start), Took: p.End.Sub(p.Start).Round(time.Millisecond).String(), ExitCode: p.ExitCode, Output: p.Output})
	}
	for _, c := range slices.Backward(h.Changes) {
		v.Changes = append(v.Changes, changeView{At: timeOrNil(c.At), State: c.State})
	}
	return v
}
