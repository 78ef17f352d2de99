package webui

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

const (
	// uiLogLines is how many of a run's last log lines its page carries,
	// the same cap the live viewer keeps.
	uiLogLines = 2000
	// uiRecentRuns is how many runs the pipeline page lists; its chart
	// shows uiChartRuns.
	uiRecentRuns = 20
	uiChartRuns  = 50
	// uiRefresh is how often, in seconds, app.js reloads the main part of
	// the overview pages.
	uiRefresh = 10
	// timelineAhead is how far past now the dashboard's timeline marks
	// scheduled fires.
	timelineAhead = 6 * time.Hour
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

// dashSync is the sync card of the dashboard.
type dashSync struct {
	SyncHealth
	CommitURL string
}

// dashboardView is the body of the dashboard.
type dashboardView struct {
	Sync       dashSync
	Pipelines  []uiPipeline
	Query, Tag string
	Tags       []string
	Shown      int
	Running    int
	Pending    int
	Timeline   template.HTML
	// TimelineNote says when the timeline shows fewer runs than the day had.
	TimelineNote string
}

func (s *Server) uiDashboard(w http.ResponseWriter, r *http.Request, u *ui) {
	ctx := r.Context()
	now := time.Now()
	q := r.URL.Query()
	v := dashboardView{Query: strings.TrimSpace(q.Get("q")), Tag: q.Get("tag")}
	active, err := s.activeByPipeline(ctx)
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	running := active.running
	for _, n := range active.running {
		v.Running += n
	}
	for _, n := range active.pending {
		v.Pending += n
	}
	st := s.cfg.Operator.SyncState()
	// The last day's runs draw the timeline and give most pipelines their
	// last run, so the page asks the store a handful of questions, not
	// two per pipeline.
	recent, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Since: now.Add(-24 * time.Hour), Limit: 1000})
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("runs of the last day: %w", err))
		return
	}
	lastRun := map[string]*status.Run{}
	for i := range recent.Runs {
		if _, ok := lastRun[recent.Runs[i].Pipeline]; !ok {
			lastRun[recent.Runs[i].Pipeline] = &recent.Runs[i]
		}
	}
	stats, err := s.cfg.Store.ListPipelines(ctx)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("pipeline counters: %w", err))
		return
	}
	statsOf := make(map[string]status.Pipeline, len(stats))
	for _, p := range stats {
		statsOf[p.Name] = p
	}
	var fires []timelineFire
	tags := map[string]bool{}
	if st.Live != nil {
		v.Sync.Revision = st.Live.ShortRevision()
		v.Sync.CommitMessage = firstLine(st.Live.CommitMessage)
		v.Sync.CommitURL = s.commitURL(st.Live.Revision)
		for _, p := range st.Live.Pipelines {
			last, ok := lastRun[p.Name]
			if !ok {
				page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Pipeline: p.Name, Limit: 1})
				if err != nil {
					s.uiOpError(w, r, u, fmt.Errorf("last run of %s: %w", p.Name, err))
					return
				}
				if len(page.Runs) > 0 {
					last = &page.Runs[0]
				}
			}
			j := newPipelineJSON(st.Live.Revision, p, statsOf[p.Name], last, now)
			row := newUIPipeline(j, running[p.Name], s.cfg.Operator.PolicyFor(p.Spec))
			row.Hidden = !matchesFilter(p, v.Query, v.Tag)
			if !row.Hidden {
				v.Shown++
			}
			for _, t := range p.Spec.Tags {
				tags[t] = true
			}
			v.Pipelines = append(v.Pipelines, row)
			if row.Runnable {
				fires = append(fires, firesWithin(p, now, now.Add(timelineAhead))...)
			}
		}
	}
	v.Tags = slices.Sorted(maps.Keys(tags))
	v.Sync.LastSyncAt = timeOrNil(st.Last.FinishedAt)
	v.Sync.Outcome, v.Sync.Error, v.Sync.Running = st.Last.Outcome, st.Last.Error, st.Running
	// A run queued before the window that is still going belongs on it.
	timeline := recent.Runs
	for _, r := range active.runs {
		if r.QueuedAt.Before(now.Add(-24 * time.Hour)) {
			timeline = append(timeline, r)
		}
	}
	if recent.NextCursor != "" {
		v.TimelineNote = fmt.Sprintf("the newest %d runs", len(recent.Runs))
	}
	v.Timeline = timelineChart(timeline, fires, now)
	s.render(w, r, u, http.StatusOK, "dashboard", pageView{Title: "Dashboard", Nav: "dashboard", Refresh: uiRefresh,
		Crumbs: []crumb{{"Dashboard", ""}}, Body: v})
}

// matchesFilter is the dashboard's filter: a case-insensitive part of the
// name or description, and a tag.
func matchesFilter(p repo.Pipeline, query, tag string) bool {
	if tag != "" && !slices.Contains(p.Spec.Tags, tag) {
		return false
	}
	if query == "" {
		return true
	}
	q := strings.ToLower(query)
	return strings.Contains(strings.ToLower(p.Name), q) || strings.Contains(strings.ToLower(p.Spec.Description), q)
}

// firesPerSchedule bounds the marks of one schedule on the timeline: a
// five-minute schedule would otherwise draw 72, and each costs a cron
// evaluation on every dashboard load.
const firesPerSchedule = 4

// firesWithin lists the pipeline's next scheduled fires in (from, to].
func firesWithin(p repo.Pipeline, from, to time.Time) []timelineFire {
	var out []timelineFire
	for _, sc := range p.Spec.AllSchedules() {
		t := from
		for range firesPerSchedule {
			next, err := operator.NextFire(sc, t)
			if err != nil || next.After(to) || !next.After(t) {
				break
			}
			out = append(out, timelineFire{Pipeline: p.Name, At: next})
			t = next
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// githubURL is the repository's page, when it is on GitHub.
func (s *Server) githubURL() string {
	if s.cfg.RepoFullName == "" {
		return ""
	}
	return "https://github.com/" + s.cfg.RepoFullName
}

func (s *Server) commitURL(rev string) string {
	if base := s.githubURL(); base != "" && rev != "" {
		return base + "/commit/" + url.PathEscape(rev)
	}
	return ""
}

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
	Pipeline      uiPipeline
	FolderURL     string
	Schedules     []scheduleView
	Params        []paramField
	FormError     string
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
	page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Pipeline: name, Limit: uiChartRuns})
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
		DurationChart: durationChart(page.Runs), ChartRuns: len(page.Runs), FormError: formErr}
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
		t := now
		for i := 0; fires && i < 5; i++ {
			next, err := operator.NextFire(sc, t)
			if err != nil || !next.After(t) {
				break
			}
			sv.Next = append(sv.Next, zonedTime{Text: next.In(sc.Location()).Format("Mon 2006-01-02 15:04:05 MST"),
				UTC: next.UTC().Format("2006-01-02 15:04:05 UTC")})
			t = next
		}
		v.Schedules = append(v.Schedules, sv)
	}
	for _, pname := range slices.Sorted(maps.Keys(p.Spec.Parameters)) {
		prm := p.Spec.Parameters[pname]
		f := paramField{Name: pname, Type: prm.Type, Description: prm.Description, Required: prm.Required && prm.Default == nil}
		if prm.Default != nil {
			f.Default, f.HasDefault = envText(prm.Default), true
		}
		for _, e := range prm.Enum {
			f.Enum = append(f.Enum, envText(e))
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

// envText writes a JSON value as the text a form field holds.
func envText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func runViews(runs []status.Run) []runJSON {
	out := make([]runJSON, 0, len(runs))
	for _, run := range runs {
		out = append(out, newRunJSON(run))
	}
	return out
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// runsPageView is the body of the runs page.
type runsPageView struct {
	Pipelines, Statuses, Triggers, Orders []option
	Since, Until                          string
	Problems                              []string
	Runs                                  []runJSON
	NextURL, FirstURL                     string
}

func (s *Server) uiRuns(w http.ResponseWriter, r *http.Request, u *ui) {
	pv := pageView{Title: "Runs", Nav: "runs", Crumbs: []crumb{{"Dashboard", "/"}, {"Runs", ""}}}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.renderError(w, r, u, http.StatusBadRequest, "The address has a malformed query string.")
		return
	}
	// The form's empty choices mean "any"; drop them before parsing.
	for k, vs := range q {
		q[k] = slices.DeleteFunc(vs, func(v string) bool { return strings.TrimSpace(v) == "" })
	}
	f, bad := parseRunFilter(q)
	v := runsPageView{Since: q.Get("since"), Until: q.Get("until")}
	v.Pipelines = append(v.Pipelines, option{Value: "", Label: "any"})
	if snap := s.cfg.Operator.Snapshot(); snap != nil {
		for _, p := range snap.Pipelines {
			v.Pipelines = append(v.Pipelines, option{Value: p.Name, Label: p.Name, Selected: p.Name == f.Pipeline})
		}
	}
	if f.Pipeline != "" && !slices.ContainsFunc(v.Pipelines, func(o option) bool { return o.Selected }) {
		// Runs of a pipeline removed from the repository stay listable.
		v.Pipelines = append(v.Pipelines, option{Value: f.Pipeline, Label: f.Pipeline + " (removed)", Selected: true})
	}
	v.Statuses = append(v.Statuses, option{Value: "", Label: "any"})
	for _, st := range status.AllStatuses() {
		v.Statuses = append(v.Statuses, option{Value: string(st), Label: string(st), Selected: slices.Contains(f.Statuses, st)})
	}
	v.Triggers = append(v.Triggers, option{Value: "", Label: "any"})
	for _, tr := range status.AllTriggers() {
		v.Triggers = append(v.Triggers, option{Value: string(tr), Label: string(tr), Selected: slices.Contains(f.Triggers, tr)})
	}
	v.Orders = []option{{Value: "desc", Label: "newest first", Selected: f.Order != status.OrderAsc},
		{Value: "asc", Label: "oldest first", Selected: f.Order == status.OrderAsc}}
	if len(bad) > 0 {
		for _, k := range slices.Sorted(maps.Keys(bad)) {
			v.Problems = append(v.Problems, k+": "+bad[k])
		}
		pv.Body = v
		s.render(w, r, u, http.StatusBadRequest, "runs", pv)
		return
	}
	page, err := s.cfg.Store.ListRuns(r.Context(), f)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("list runs: %w", err))
		return
	}
	v.Runs = runViews(page.Runs)
	if page.NextCursor != "" {
		next := cloneValues(q)
		next.Set("cursor", page.NextCursor)
		v.NextURL = "/runs?" + next.Encode()
	}
	if f.Cursor != "" {
		first := cloneValues(q)
		first.Del("cursor")
		v.FirstURL = "/runs?" + first.Encode()
	} else {
		// Only the first page follows new runs; a deep page stays put.
		pv.Refresh = uiRefresh
	}
	pv.Body = v
	s.render(w, r, u, http.StatusOK, "runs", pv)
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, vs := range q {
		out[k] = slices.Clone(vs)
	}
	return out
}

// errorTypeWords says what an error type means, for people.
var errorTypeWords = map[status.ErrorType]string{
	status.ErrorExitCode:             "Exit code: the program ended with a non-zero exit code",
	status.ErrorOOM:                  "Out of memory: the container used more than its memory limit",
	status.ErrorDocker:               "Docker error: the container runtime failed to run the container",
	status.ErrorCommandNotExecutable: "Command not executable: the entry point could not be executed",
	status.ErrorCommandNotFound:      "Command not found: the entry point does not exist in the container",
	status.ErrorStalled:              "Stalled: the run stopped making progress and was stopped",
	status.ErrorSetupFailed:          "Setup failed: installing the pipeline's dependencies failed",
}

// errorText is the error type in words, with the exit code or the memory
// limit when they say more.
func errorText(r status.Run, memLimit int64) string {
	if r.ErrorType == "" {
		switch r.Status {
		case status.RunTimeout:
			return "Timeout: the run took longer than its timeout and was stopped"
		case status.RunInterrupted:
			return "Interrupted: the container disappeared while Fast-Flow was not watching it"
		}
		return ""
	}
	text, ok := errorTypeWords[r.ErrorType]
	if !ok {
		text = string(r.ErrorType)
	}
	switch {
	case r.ExitCode != nil && r.ErrorType == status.ErrorExitCode:
		text += " (" + strconv.Itoa(*r.ExitCode) + ")"
	case r.ErrorType == status.ErrorOOM && memLimit > 0:
		text = "Out of memory: the container used more than its " + formatBytes(memLimit) + " limit"
	}
	return text
}

// logLinesHTML renders log lines as the viewer's markup (app.js appends
// the same for live lines). It is built here rather than with a template
// range: for 2,000 lines that took most of the run page's time.
func logLinesHTML(lines []logs.Line) template.HTML {
	var b strings.Builder
	b.Grow(len(lines) * 96)
	for _, l := range lines {
		n := strconv.FormatInt(l.N, 10)
		b.WriteString(`<div class="line`)
		if l.Stream == logs.StreamStderr {
			b.WriteString(` err`)
		}
		b.WriteString(`" data-n="`)
		b.WriteString(n)
		b.WriteString(`"><span class="ln">`)
		b.WriteString(n)
		b.WriteString(`</span><span class="tx">`)
		b.WriteString(string(ansiHTML(l.Text)))
		b.WriteString("</span></div>")
	}
	// Only numbers and ansiHTML's escaped output went in.
	return template.HTML(b.String())
}

// chartsView is the run page's charts block, also served alone for the
// live refresh.
type chartsView struct {
	CPU, RAM       template.HTML
	CPUNow, RAMNow string
	// RAMLimit is the hard memory limit, for "120.5 MiB of 256 MiB".
	RAMLimit     string
	SoftExceeded bool
	Throttled    bool
	MetricsURL   string
	// LastN numbers the last stored point: the live stream resumes after
	// it instead of replaying the run's whole history.
	LastN int64
}

// runPageView is the body of the run page.
type runPageView struct {
	Run       runJSON
	Active    bool
	ErrorText string
	CommitURL string
	// Chain is the retry chain, oldest first, this run included.
	Chain        []runJSON
	Lines        template.HTML
	LastLine     int64
	Dropped      bool
	Supervised   bool
	LastOutputAt *time.Time
	Charts       chartsView
}

func (s *Server) loadRun(w http.ResponseWriter, r *http.Request, u *ui) (status.Run, bool) {
	id := r.PathValue("id")
	if !runIDPattern.MatchString(id) {
		s.renderError(w, r, u, http.StatusNotFound, "No run with that id.")
		return status.Run{}, false
	}
	run, err := s.cfg.Store.GetRun(r.Context(), id)
	if errors.Is(err, status.ErrNotFound) {
		s.renderError(w, r, u, http.StatusNotFound, "No run with that id.")
		return status.Run{}, false
	}
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("get run %s: %w", id, err))
		return status.Run{}, false
	}
	return run, true
}

func (s *Server) uiRun(w http.ResponseWriter, r *http.Request, u *ui) {
	run, ok := s.loadRun(w, r, u)
	if !ok {
		return
	}
	ctx := r.Context()
	limits := s.limitsOf(run.Pipeline)
	v := runPageView{Run: newRunJSON(run), Active: !run.Status.Final(), ErrorText: errorText(run, limits.MemHardLimit),
		CommitURL: s.commitURL(run.Revision)}
	_, v.Supervised = s.cfg.Operator.LogHubs().Get(run.ID)
	chain, err := s.retryChain(ctx, run)
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	if len(chain) > 1 {
		v.Chain = runViews(chain)
	}
	var lines []logs.Line
	if run.LogPath != "" {
		lines, err = logs.Tail(run.LogPath, uiLogLines)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.uiOpError(w, r, u, fmt.Errorf("tail log of %s: %w", run.ID, err))
			return
		}
	}
	v.Lines = logLinesHTML(lines)
	if len(lines) > 0 {
		v.LastLine = lines[len(lines)-1].N
		v.Dropped = lines[0].N > 1
		v.LastOutputAt = timeOrNil(lines[len(lines)-1].Time)
	}
	v.Charts, err = s.chartsFor(run, limits)
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	s.render(w, r, u, http.StatusOK, "run", pageView{Title: "Run " + shortRunID(run.ID) + " of " + run.Pipeline, Nav: "runs",
		Crumbs: []crumb{{"Dashboard", "/"}, {run.Pipeline, "/pipelines/" + url.PathEscape(run.Pipeline)}, {"Run " + shortRunID(run.ID), ""}},
		Body:   v})
}

// chartsFor draws the CPU and RAM charts from the stored metrics, with the
// pipeline's limits.
func (s *Server) chartsFor(run status.Run, l limitsJSON) (chartsView, error) {
	pts, err := readMetrics(run)
	if err != nil {
		return chartsView{}, err
	}
	const mib = 1 << 20
	v := chartsView{
		CPU:          metricsChart("cpu", pts, l.CPUSoftLimit*100, l.CPUHardLimit*100),
		RAM:          metricsChart("ram", pts, float64(l.MemSoftLimit)/mib, float64(l.MemHardLimit)/mib),
		CPUNow:       "—",
		RAMNow:       "—",
		SoftExceeded: run.SoftLimitExceeded,
		MetricsURL:   "/api/runs/" + run.ID + "/metrics",
	}
	if l.MemHardLimit > 0 {
		v.RAMLimit = formatBytes(l.MemHardLimit)
	}
	if n := len(pts); n > 0 {
		last := pts[n-1]
		v.LastN = last.N
		v.CPUNow = strconv.FormatFloat(last.CPUPercent, 'f', 1, 64) + " %"
		v.RAMNow = strconv.FormatFloat(last.RAMMB, 'f', 1, 64) + " MiB"
		if v.RAMLimit != "" {
			v.RAMNow += " of " + v.RAMLimit
		}
	}
	for _, p := range pts {
		v.SoftExceeded = v.SoftExceeded || p.SoftLimitExceeded
		v.Throttled = v.Throttled || p.Throttled
	}
	return v, nil
}

// uiRunCharts serves the charts block alone; the run page's script swaps it
// in while the run goes on.
func (s *Server) uiRunCharts(w http.ResponseWriter, r *http.Request, u *ui) {
	run, ok := s.loadRun(w, r, u)
	if !ok {
		return
	}
	v, err := s.chartsFor(run, s.limitsOf(run.Pipeline))
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	// The block is the run page's own "charts" template, so the refresh
	// and the page cannot drift apart.
	var buf bytes.Buffer
	if err := u.pages["run"].ExecuteTemplate(&buf, "charts", v); err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("render charts: %w", err))
		return
	}
	writeHTML(w, http.StatusOK, buf.Bytes())
}

// maxChain bounds the retry chain walked in either direction; retries
// are bounded by RETRY_ATTEMPTS, this only guards against a cycle in bad
// data.
const maxChain = 20

// retryChain returns the runs linked to run by retry_of, oldest first: the
// runs it retried, run itself, and its retries.
func (s *Server) retryChain(ctx context.Context, run status.Run) ([]status.Run, error) {
	chain := []status.Run{run}
	for cur := run; cur.RetryOf != "" && len(chain) < maxChain; {
		prev, err := s.cfg.Store.GetRun(ctx, cur.RetryOf)
		if errors.Is(err, status.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("retry chain of %s: %w", run.ID, err)
		}
		chain = append(chain, prev)
		cur = prev
	}
	slices.Reverse(chain)
	// Forward: the first retry of each run, which is what the operator's
	// automatic retries make (a run retried by hand twice has two; the
	// chain follows the first, the runs page lists them all).
	for cur := run.ID; len(chain) < 2*maxChain; {
		page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{RetryOf: cur, Order: status.OrderAsc, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("retries of %s: %w", cur, err)
		}
		if len(page.Runs) == 0 {
			break
		}
		chain = append(chain, page.Runs[0])
		cur = page.Runs[0].ID
	}
	return chain, nil
}

// syncRow is one sync attempt on the sync page.
type syncRow struct {
	syncJSON
	Duration string
}

// preheatRow is one pipeline's dependency cache on the sync page.
type preheatRow struct {
	Pipeline, State, Output string
	LastWarmup              *time.Time
}

// syncPageView is the body of the sync page.
type syncPageView struct {
	Revision, ShortRevision, Branch, CommitMessage, CommitAuthor, CommitURL string
	CommittedAt, LastSuccessAt                                              *time.Time
	Running                                                                 bool
	History                                                                 []syncRow
	LastError                                                               *syncRow
	PreHeat                                                                 []preheatRow
}

func (s *Server) uiSync(w http.ResponseWriter, r *http.Request, u *ui) {
	ctx := r.Context()
	st := s.cfg.Operator.SyncState()
	v := syncPageView{Running: st.Running, LastSuccessAt: timeOrNil(st.LastSuccess)}
	if st.Live != nil {
		v.Revision, v.ShortRevision, v.Branch = st.Live.Revision, st.Live.ShortRevision(), st.Live.Branch
		v.CommitMessage, v.CommitAuthor, v.CommittedAt = st.Live.CommitMessage, st.Live.CommitAuthor, timeOrNil(st.Live.CommittedAt)
		v.CommitURL = s.commitURL(st.Live.Revision)
	}
	evs, err := s.cfg.Store.ListSyncs(ctx, syncHistory)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("list syncs: %w", err))
		return
	}
	for _, ev := range evs {
		row := syncRow{syncJSON: newSyncJSON(ev)}
		if !ev.StartedAt.IsZero() && !ev.FinishedAt.IsZero() {
			row.Duration = formatDuration(ev.FinishedAt.Sub(ev.StartedAt))
		}
		v.History = append(v.History, row)
		if ev.Error != "" && v.LastError == nil {
			v.LastError = &row
		}
	}
	pls, err := s.cfg.Store.ListPipelines(ctx)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("list pipelines: %w", err))
		return
	}
	for _, p := range pls {
		if !p.HasRequirements {
			continue
		}
		row := preheatRow{Pipeline: p.Name, State: cacheWords(pipelineJSON{HasRequirements: true, CacheStatus: p.CacheStatus}),
			LastWarmup: timeOrNil(p.LastCacheWarmup)}
		if row.State == "failed" {
			row.Output = p.CacheOutput
		}
		v.PreHeat = append(v.PreHeat, row)
	}
	slices.SortFunc(v.PreHeat, func(a, b preheatRow) int { return cmp.Compare(a.Pipeline, b.Pipeline) })
	s.render(w, r, u, http.StatusOK, "sync", pageView{Title: "Sync", Nav: "sync", Refresh: uiRefresh,
		Crumbs: []crumb{{"Dashboard", "/"}, {"Sync", ""}}, Body: v})
}

// secretRow is one secret on the secrets page: never its value.
type secretRow struct {
	Name                 string
	UsedBy               []string
	CreatedAt, UpdatedAt *time.Time
	Missing              bool
}

// secretsPageView is the body of the secrets page.
type secretsPageView struct {
	Configured bool
	Secrets    []secretRow
}

func (s *Server) uiSecrets(w http.ResponseWriter, r *http.Request, u *ui) {
	v := secretsPageView{Configured: s.cfg.Secrets != nil}
	usedBy := map[string][]string{}
	if snap := s.cfg.Operator.Snapshot(); snap != nil {
		for _, p := range snap.Pipelines {
			for _, name := range p.Spec.Secrets {
				usedBy[name] = append(usedBy[name], p.Name)
			}
		}
	}
	if v.Configured {
		list, err := s.cfg.Secrets.List(r.Context())
		if err != nil {
			s.uiOpError(w, r, u, fmt.Errorf("list secrets: %w", err))
			return
		}
		for _, sec := range list {
			v.Secrets = append(v.Secrets, secretRow{Name: sec.Name, UsedBy: usedBy[sec.Name],
				CreatedAt: timeOrNil(sec.CreatedAt), UpdatedAt: timeOrNil(sec.UpdatedAt)})
			delete(usedBy, sec.Name)
		}
	}
	// Names pipelines ask for that are not set: their runs would fail.
	for _, name := range slices.Sorted(maps.Keys(usedBy)) {
		v.Secrets = append(v.Secrets, secretRow{Name: name, UsedBy: usedBy[name], Missing: true})
	}
	s.render(w, r, u, http.StatusOK, "secrets", pageView{Title: "Secrets", Nav: "secrets",
		Crumbs: []crumb{{"Dashboard", "/"}, {"Secrets", ""}}, Body: v})
}
