package webui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// uiLogLines is how many of a run's last log lines its page shows.
const uiLogLines = 200

// uiPageNames are the page templates; each is parsed with layout.html.
var uiPageNames = []string{"login", "dashboard", "pipeline", "runs", "run", "error"}

// ui holds the parsed templates and the stylesheet, built once at startup.
type ui struct {
	pages map[string]*template.Template
	css   []byte
}

// uiFuncs are the template functions. They only format values they are
// given: none touches the store, none panics.
var uiFuncs = template.FuncMap{
	"iso": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"lower": func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
	"shortID": func(id string) string {
		if len(id) > 8 {
			return id[:8]
		}
		return id
	},
	"duration": func(secs *float64) string {
		if secs == nil {
			return "—"
		}
		return (time.Duration(*secs * float64(time.Second))).Round(time.Millisecond).String()
	},
}

// newUI parses every page template with the layout. A template error is a
// programming error and fails New at startup, not a request later.
func newUI() (*ui, error) {
	u := &ui{pages: make(map[string]*template.Template, len(uiPageNames))}
	for _, name := range uiPageNames {
		t, err := template.New(name).Funcs(uiFuncs).ParseFS(content, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: parse template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	css, err := fs.ReadFile(content, "static/style.css")
	if err != nil {
		return nil, fmt.Errorf("webui: read stylesheet: %w", err)
	}
	u.css = css
	return u, nil
}

// crumb is one step of the breadcrumb; the last has no link.
type crumb struct{ Label, Href string }

// pageView is what the layout renders; Body is the page's own view.
type pageView struct {
	Title  string
	User   string
	Crumbs []crumb
	// InlineCSS is set on pages shown without a session (login), which
	// cannot fetch /static/ behind the auth middleware.
	InlineCSS template.CSS
	Body      any
}

// render executes page into a buffer first, so a template error becomes a
// clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, u *ui, code int, page string, v pageView) {
	var buf bytes.Buffer
	t, ok := u.pages[page]
	if !ok {
		s.log.Error("ui render: unknown page", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if v.User == "" {
		v.User = userFrom(r.Context())
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("ui render", "page", page, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// errorView is the body of the error page.
type errorView struct{ Heading, Message string }

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, u *ui, code int, msg string) {
	s.render(w, r, u, code, "error", pageView{
		Title:  http.StatusText(code),
		Crumbs: []crumb{{"Dashboard", "/"}, {http.StatusText(code), ""}},
		Body:   errorView{Heading: http.StatusText(code), Message: msg},
	})
}

// uiRoutes registers the HTML pages. GET /auth/login shows the login form
// (POST /auth/login, already public, takes it); every other page and the
// stylesheet are behind requireAuth like the API.
func (s *Server) uiRoutes() {
	u, err := newUI()
	if err != nil {
		// The templates are embedded: a parse error is caught by every
		// test run, never first met in production.
		panic(err)
	}
	s.handle("GET", "/auth/login", true, func(w http.ResponseWriter, r *http.Request) { s.uiLogin(w, r, u) })
	s.handle("GET", "/static/{path...}", false, func(w http.ResponseWriter, r *http.Request) { s.uiStatic(w, r) })
	s.handle("GET", "/{$}", false, func(w http.ResponseWriter, r *http.Request) { s.uiDashboard(w, r, u) })
	s.handle("GET", "/pipelines/{name}", false, func(w http.ResponseWriter, r *http.Request) { s.uiPipeline(w, r, u) })
	s.handle("GET", "/runs", false, func(w http.ResponseWriter, r *http.Request) { s.uiRuns(w, r, u) })
	s.handle("GET", "/runs/{id}", false, func(w http.ResponseWriter, r *http.Request) { s.uiRun(w, r, u) })
}

// uiStatic serves the embedded assets. They change only with the binary,
// so browsers may keep them for an hour.
func (s *Server) uiStatic(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	if !fs.ValidPath(p) || strings.HasSuffix(p, "/") {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(content, path.Join("static", p))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(b))
}

// loginView is the body of the login page.
type loginView struct{ Error string }

func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request, u *ui) {
	var v loginView
	switch r.URL.Query().Get("error") {
	case "":
	case "expired":
		v.Error = "Your session has expired. Please log in again."
	default:
		v.Error = "Wrong user name or password."
	}
	s.render(w, r, u, http.StatusOK, "login", pageView{Title: "Log in", InlineCSS: template.CSS(u.css), Body: v})
}

// uiPipeline is a pipeline on the dashboard: its API view plus what the
// row shows derived from it.
type uiPipeline struct {
	pipelineJSON
	FirstProblem string
	NextFire     *time.Time
}

func newUIPipeline(j pipelineJSON) uiPipeline {
	p := uiPipeline{pipelineJSON: j}
	if len(j.Problems) > 0 {
		p.FirstProblem = j.Problems[0].String()
	}
	for _, sc := range j.Schedules {
		if sc.NextFireAt != nil && (p.NextFire == nil || sc.NextFireAt.Before(*p.NextFire)) {
			p.NextFire = sc.NextFireAt
		}
	}
	return p
}

// dashboardView is the body of the dashboard.
type dashboardView struct {
	Sync      SyncHealth
	Pipelines []uiPipeline
}

func (s *Server) uiDashboard(w http.ResponseWriter, r *http.Request, u *ui) {
	st := s.cfg.Operator.SyncState()
	var v dashboardView
	if st.Live != nil {
		v.Sync.Revision = st.Live.ShortRevision()
		v.Sync.CommitMessage = st.Live.CommitMessage
		now := time.Now()
		for _, p := range st.Live.Pipelines {
			j, err := s.pipelineView(r.Context(), st.Live.Revision, p, now)
			if err != nil {
				s.uiOpError(w, r, u, err)
				return
			}
			v.Pipelines = append(v.Pipelines, newUIPipeline(j))
		}
	}
	v.Sync.LastSyncAt = timeOrNil(st.Last.FinishedAt)
	v.Sync.Outcome, v.Sync.Error, v.Sync.Running = st.Last.Outcome, st.Last.Error, st.Running
	s.render(w, r, u, http.StatusOK, "dashboard", pageView{Title: "Dashboard", Crumbs: []crumb{{"Dashboard", ""}}, Body: v})
}

// uiOpError logs an unexpected error once and answers a clean 500 page.
func (s *Server) uiOpError(w http.ResponseWriter, r *http.Request, u *ui, err error) {
	s.log.Error("ui request", "method", r.Method, "path", r.URL.Path, "err", err)
	s.renderError(w, r, u, http.StatusInternalServerError, "Something went wrong on the server; it has been logged.")
}

// uiRecentRuns is how many runs the pipeline page lists.
const uiRecentRuns = 20

// pipelinePageView is the body of the pipeline page.
type pipelinePageView struct {
	Pipeline pipelineJSON
	Runs     []runJSON
}

func (s *Server) uiPipeline(w http.ResponseWriter, r *http.Request, u *ui) {
	name := r.PathValue("name")
	snap := s.cfg.Operator.Snapshot()
	if snap == nil {
		s.renderError(w, r, u, http.StatusNotFound, "No pipeline named "+strconv.Quote(name)+".")
		return
	}
	p, ok := snap.Pipeline(name)
	if !ok {
		s.renderError(w, r, u, http.StatusNotFound, "No pipeline named "+strconv.Quote(name)+".")
		return
	}
	j, err := s.pipelineView(r.Context(), snap.Revision, p, time.Now())
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	page, err := s.cfg.Store.ListRuns(r.Context(), status.RunFilter{Pipeline: name, Limit: uiRecentRuns})
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("runs of %s: %w", name, err))
		return
	}
	v := pipelinePageView{Pipeline: j, Runs: runViews(page.Runs)}
	s.render(w, r, u, http.StatusOK, "pipeline", pageView{Title: name,
		Crumbs: []crumb{{"Dashboard", "/"}, {name, ""}}, Body: v})
}

func runViews(runs []status.Run) []runJSON {
	out := make([]runJSON, 0, len(runs))
	for _, run := range runs {
		out = append(out, newRunJSON(run))
	}
	return out
}

// statusOption is one choice of the runs page's status filter.
type statusOption struct {
	Value    status.RunStatus
	Selected bool
}

// runsPageView is the body of the runs page.
type runsPageView struct {
	Pipeline string
	Statuses []statusOption
	Problems []string
	Runs     []runJSON
	NextURL  string
}

var allStatuses = []status.RunStatus{status.RunPending, status.RunRunning, status.RunSuccess, status.RunFailed,
	status.RunCancelled, status.RunTimeout, status.RunInterrupted}

func (s *Server) uiRuns(w http.ResponseWriter, r *http.Request, u *ui) {
	pv := pageView{Title: "Runs", Crumbs: []crumb{{"Dashboard", "/"}, {"Runs", ""}}}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.renderError(w, r, u, http.StatusBadRequest, "The address has a malformed query string.")
		return
	}
	f, bad := parseRunFilter(q)
	v := runsPageView{Pipeline: f.Pipeline}
	for _, st := range allStatuses {
		v.Statuses = append(v.Statuses, statusOption{Value: st, Selected: slices.Contains(f.Statuses, st)})
	}
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
		next := url.Values{}
		for k, vs := range q {
			next[k] = slices.Clone(vs)
		}
		next.Set("cursor", page.NextCursor)
		v.NextURL = "/runs?" + next.Encode()
	}
	pv.Body = v
	s.render(w, r, u, http.StatusOK, "runs", pv)
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

// errorText is the error type in words, with the exit code when there is one.
func errorText(r status.Run) string {
	if r.ErrorType == "" {
		return ""
	}
	text, ok := errorTypeWords[r.ErrorType]
	if !ok {
		text = string(r.ErrorType)
	}
	if r.ExitCode != nil && r.ErrorType == status.ErrorExitCode {
		text += " (" + strconv.Itoa(*r.ExitCode) + ")"
	}
	return text
}

// runPageView is the body of the run page.
type runPageView struct {
	Run       runJSON
	ErrorText string
	Log       []string
	LogNote   string
}

func (s *Server) uiRun(w http.ResponseWriter, r *http.Request, u *ui) {
	id := r.PathValue("id")
	if !runIDPattern.MatchString(id) {
		s.renderError(w, r, u, http.StatusNotFound, "No run with that id.")
		return
	}
	run, err := s.cfg.Store.GetRun(r.Context(), id)
	if errors.Is(err, status.ErrNotFound) {
		s.renderError(w, r, u, http.StatusNotFound, "No run with that id.")
		return
	}
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("get run %s: %w", id, err))
		return
	}
	v := runPageView{Run: newRunJSON(run), ErrorText: errorText(run)}
	var lines []logs.Line
	if run.LogPath != "" {
		lines, err = logs.Tail(run.LogPath, uiLogLines)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.uiOpError(w, r, u, fmt.Errorf("tail log of %s: %w", run.ID, err))
			return
		}
	}
	for _, l := range lines {
		v.Log = append(v.Log, l.Text)
	}
	switch {
	case len(lines) == 0:
		v.LogNote = "no output"
	case lines[0].N > 1:
		v.LogNote = fmt.Sprintf("last %d lines; the full log is in the download", len(lines))
	}
	s.render(w, r, u, http.StatusOK, "run", pageView{Title: "Run " + run.ID,
		Crumbs: []crumb{{"Dashboard", "/"}, {"Runs", "/runs"}, {run.Pipeline, "/pipelines/" + run.Pipeline}, {run.ID[:8], ""}},
		Body:   v})
}
