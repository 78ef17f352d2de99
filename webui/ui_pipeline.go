package webui

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
)

// scheduleView is a schedule with its next fires written in the
// pipeline's time zone.
type scheduleView struct {
	Label    string
	Timezone string
	Next     []zonedTime
}

// zonedTime is a time shown in a given zone (not the viewer's), with UTC
// on hover.
type zonedTime struct{ Text, UTC string }

// paramField is one field of the run form.
type paramField struct {
	Name        string
	Type        schemas.ParamType
	Description string
	Default     string
	HasDefault  bool
	Required    bool
	Enum        []string
	Value       string
	Error       string
}

// pipelinePageView is the body of the pipeline page.
type pipelinePageView struct {
	Pipeline  uiPipeline
	FolderURL string
	Schedules []scheduleView
	Params    []paramField
	FormError string
	// Queue keeps the form's "queue" checkbox ticked after a refusal.
	Queue         bool
	QueueLabel    string
	Runs          []runJSON
	DurationChart template.HTML
	ChartRuns     int
	// AverageDuration is over the AverageOf finished runs among those.
	AverageDuration string
	AverageOf       int
}

// averageDuration is the mean wall time of the finished runs among runs.
func averageDuration(runs []status.Run) (string, int) {
	var sum time.Duration
	n := 0
	for _, r := range runs {
		if d := r.Duration(); d > 0 {
			sum += d
			n++
		}
	}
	if n == 0 {
		return "", 0
	}
	return formatDuration(sum / time.Duration(n)), n
}

func (s *Server) uiPipeline(w http.ResponseWriter, r *http.Request, u *ui) {
	s.renderPipeline(w, r, u, http.StatusOK, nil, nil, "")
}

// renderPipeline renders the pipeline page; values and fieldErrs refill the
// run form after a refused submission.
func (s *Server) renderPipeline(w http.ResponseWriter, r *http.Request, u *ui, code int, values url.Values, fieldErrs map[string]string, formErr string) {
	ctx := r.Context()
	name := r.PathValue("name")
	snap, p, ok := s.livePipeline(name)
	if !ok {
		s.renderError(w, r, u, http.StatusNotFound, "No pipeline named "+strconv.Quote(name)+".")
		return
	}
	now := time.Now()
	stats, err := s.cfg.Store.GetPipelineStats(ctx, name)
	if err != nil && !errors.Is(err, status.ErrNotFound) {
		s.uiOpError(w, r, u, fmt.Errorf("stats of %s: %w", name, err))
		return
	}
	// One listing serves the chart, the recent runs and the last run.
	page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Pipeline: name, Limit: durRuns})
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("runs of %s: %w", name, err))
		return
	}
	var last *status.Run
	if len(page.Runs) > 0 {
		last = &page.Runs[0]
	}
	running, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Pipeline: name, Statuses: []status.RunStatus{status.RunRunning}, Limit: 1000})
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("running runs of %s: %w", name, err))
		return
	}
	j := newPipelineJSON(snap.Revision, p, stats, last, now)
	v := pipelinePageView{Pipeline: newUIPipeline(j, len(running.Runs), s.cfg.Operator.PolicyFor(p.Spec)),
		DurationChart: durationChart(page.Runs), ChartRuns: len(page.Runs), FormError: formErr,
		Queue: values.Get("queue") != "", QueueLabel: queueLabel}
	v.Runs = runViews(page.Runs[:min(len(page.Runs), uiRecentRuns)])
	v.AverageDuration, v.AverageOf = averageDuration(page.Runs)
	if base := s.githubURL(); base != "" {
		v.FolderURL = base + "/tree/" + url.PathEscape(snap.Revision) + "/" + url.PathEscape(name)
	}
	fires := j.Valid && j.Enabled
	for _, sc := range p.Spec.AllSchedules() {
		sv := scheduleView{Timezone: sc.Location().String()}
		switch {
		case sc.Cron != "":
			sv.Label = sc.Cron
		default:
			sv.Label = "every " + sc.Every
		}
		if sc.Name != "" {
			sv.Label = sc.Name + ": " + sv.Label
		}
		if fires {
			for _, next := range nextFires(sc, now, time.Time{}, 5) {
				sv.Next = append(sv.Next, zonedTime{Text: next.In(sc.Location()).Format("Mon 2006-01-02 15:04:05 MST"),
					UTC: next.UTC().Format("2006-01-02 15:04:05 UTC")})
			}
		}
		v.Schedules = append(v.Schedules, sv)
	}
	for _, pname := range slices.Sorted(maps.Keys(p.Spec.Parameters)) {
		prm := p.Spec.Parameters[pname]
		f := paramField{Name: pname, Type: prm.Type, Description: prm.Description, Required: prm.Required && prm.Default == nil}
		if prm.Default != nil {
			f.Default, f.HasDefault = operator.EnvValue(prm.Default), true
		}
		for _, e := range prm.Enum {
			f.Enum = append(f.Enum, operator.EnvValue(e))
		}
		if values != nil {
			f.Value = values.Get("p." + pname)
		}
		f.Error = fieldErrs[pname]
		v.Params = append(v.Params, f)
	}
	s.render(w, r, u, code, "pipeline", pageView{Title: name, Nav: "dashboard",
		Crumbs: []crumb{{"Dashboard", "/"}, {name, ""}}, Body: v})
}

func runViews(runs []status.Run) []runJSON {
	out := make([]runJSON, 0, len(runs))
	for _, run := range runs {
		out = append(out, newRunJSON(run))
	}
	return out
}
