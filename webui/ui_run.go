package webui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// errorTypeWords says what an error type means, for people.
var errorTypeWords = map[status.ErrorType]string{
	status.ErrorExitCode:             "Exit code: the program ended with a non-zero exit code",
	status.ErrorOOM:                  "Out of memory: the container used more than its memory limit",
	status.ErrorDocker:               "Docker error: the container runtime failed to run the container",
	status.ErrorCommandNotExecutable: "Command not executable: the entry point could not be executed",
	status.ErrorCommandNotFound:      "Command not found: the entry point does not exist in the container",
	status.ErrorStalled:              "Stalled: the run stopped making progress and was stopped",
	status.ErrorSetupFailed:          "Setup failed: installing the pipeline's dependencies failed",
	status.ErrorUnhealthy:            "Unhealthy: the container's health check failed for longer than HEALTH_GRACE and it was stopped",
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
	// Queued: PENDING and waiting for a slot (not yet starting).
	Queued bool
	// Removed: the run's pipeline is not in the live revision any more.
	Removed bool
	// LogRemoved says when retention removed the log ("" while kept).
	LogRemoved string
	// Health is the container's health check history, nil without one.
	Health *healthView
	// Notifications are the run's, with a failing target's last error.
	Notifications []notificationJSON
}

func (s *Server) loadRun(w http.ResponseWriter, r *http.Request, u *ui) (status.Run, bool) {
	run, err := s.runByID(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, status.ErrNotFound):
		s.renderError(w, r, u, http.StatusNotFound, "No run with that id.")
		return status.Run{}, false
	case err != nil:
		s.uiOpError(w, r, u, err)
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
		CommitURL: s.commitURL(run.Revision), Queued: isQueued(run), Removed: s.pipelineRemoved(run.Pipeline)}
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
	v.LogRemoved = logRemovedText(run)
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
	if v.Notifications, err = s.notificationsOf(r, run.ID); err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	v.Charts, err = s.chartsFor(run, limits)
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	hist, err := readHealth(run)
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	v.Health = newHealthView(run.ID, hist)
	// A removed pipeline has no page; its runs stay listed.
	pipelineURL := "/pipelines/" + url.PathEscape(run.Pipeline)
	if v.Removed {
		pipelineURL = "/runs?pipeline=" + url.QueryEscape(run.Pipeline)
	}
	s.render(w, r, u, http.StatusOK, "run", pageView{Title: "Run " + shortRunID(run.ID) + " of " + run.Pipeline, Nav: "runs",
		Crumbs: []crumb{{"Dashboard", "/"}, {run.Pipeline, pipelineURL}, {"Run " + shortRunID(run.ID), ""}},
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
