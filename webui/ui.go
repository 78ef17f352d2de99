package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
)

// uiPageNames are the page templates; each is parsed with layout.html.
var uiPageNames = []string{"login", "dashboard", "pipeline", "runs", "run", "sync", "secrets", "error"}

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
	// utc is how a time reads without JavaScript, and on hover with it
	// (app.js shows the viewer's local time).
	"utc": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"lower": func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
	// slug makes a label one CSS class name: "not cached" → "not-cached".
	"slug":     func(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "-") },
	"shortSHA": repo.ShortSHA,
	"runID":    shortRunID,
	"duration": func(secs *float64) string {
		if secs == nil {
			return "—"
		}
		return formatDuration(time.Duration(*secs * float64(time.Second)))
	},
	"dur": formatDuration,
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// pathEscape makes a pipeline name one path segment: a folder named
	// "a?b" or "a#b" must not turn into a query or a fragment.
	"pathEscape": url.PathEscape,
	"mib":        formatBytes,
	"cores":      formatCores,
	"percent1":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}

// formatDuration rounds for people: milliseconds under a second, tenths
// under a minute, whole seconds above.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// formatBytes writes a memory size in binary units, the way Docker's
// limits are usually written ("512 MiB", "1.5 GiB").
func formatBytes(n int64) string {
	const mib = 1 << 20
	switch {
	case n <= 0:
		return "—"
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', -1, 64) + " GiB"
	case n >= mib:
		return strconv.FormatFloat(float64(n)/mib, 'f', -1, 64) + " MiB"
	default:
		return strconv.FormatInt(n, 10) + " B"
	}
}

func formatCores(c float64) string {
	if c <= 0 {
		return "—"
	}
	unit := " CPUs"
	if c == 1 {
		unit = " CPU"
	}
	return strconv.FormatFloat(c, 'f', -1, 64) + unit
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

// toast is a message about the outcome of an action, shown once.
type toast struct {
	Kind    string // "success" or "error"
	Message string
}

// pageView is what the layout renders; Body is the page's own view.
type pageView struct {
	Title  string
	User   string
	Crumbs []crumb
	// Nav marks the current section in the header.
	Nav string
	// Refresh, in seconds, asks app.js to reload the page's main part
	// while it is open; 0 for pages with their own live streams.
	Refresh int
	// InlineCSS is set on pages shown without a session (login), which
	// cannot fetch /static/ behind the auth middleware.
	InlineCSS template.CSS
	Toast     *toast
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
	if v.Toast == nil {
		v.Toast = takeFlash(w, r)
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("ui render", "page", page, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeHTML(w, code, buf.Bytes())
}

// contentSecurityPolicy allows the page's own script, styles, fetches and
// streams and nothing else: log lines and pipeline metadata are shown on
// these pages, and should one ever slip past the escaping, it still cannot
// run a script, load one, or send data elsewhere. Inline styles stay
// allowed for the login page, which cannot fetch /static/ without a
// session.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

func writeHTML(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// flashCookie carries the outcome of a form post across its redirect, for
// browsers without JavaScript.
const flashCookie = "fastflow_flash"

func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, t toast) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(t.Kind + ":" + t.Message), Path: "/",
		MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookie(r)})
}

// takeFlash returns the pending flash message and deletes its cookie.
func takeFlash(w http.ResponseWriter, r *http.Request) *toast {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	v, err := url.QueryUnescape(c.Value)
	if err != nil {
		return nil
	}
	kind, msg, ok := strings.Cut(v, ":")
	if !ok || (kind != "success" && kind != "error") || msg == "" {
		return nil
	}
	// The cookie is the browser's to change; the message is only ever
	// shown as escaped text, and not at any length.
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return &toast{Kind: kind, Message: msg}
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

// uiOpError logs an unexpected error once and answers a clean 500 page.
func (s *Server) uiOpError(w http.ResponseWriter, r *http.Request, u *ui, err error) {
	s.log.Error("ui request", "method", r.Method, "path", r.URL.Path, "err", err)
	s.renderError(w, r, u, http.StatusInternalServerError, "Something went wrong on the server; it has been logged.")
}

// uiRoutes registers the HTML pages and their actions. GET /login shows the
// login form (POST /auth/login takes it); every other page, action and
// asset is behind requireAuth like the API.
func (s *Server) uiRoutes() {
	u, err := newUI()
	if err != nil {
		// The templates are embedded: a parse error is caught by every
		// test run, never first met in production.
		panic(err)
	}
	page := func(h func(http.ResponseWriter, *http.Request, *ui)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { h(w, r, u) }
	}
	s.handle("GET", "/login", true, page(s.uiLogin))
	s.handle("GET", "/static/{path...}", false, s.uiStatic)
	s.handle("GET", "/{$}", false, page(s.uiDashboard))
	s.handle("GET", "/pipelines/{name}", false, page(s.uiPipeline))
	s.handle("GET", "/runs", false, page(s.uiRuns))
	s.handle("GET", "/runs/{id}", false, page(s.uiRun))
	s.handle("GET", "/runs/{id}/charts", false, page(s.uiRunCharts))
	s.handle("GET", "/sync", false, page(s.uiSync))
	s.handle("GET", "/secrets", false, page(s.uiSecrets))
	s.handle("POST", "/pipelines/{name}/run", false, page(s.uiActionRun))
	s.handle("POST", "/pipelines/{name}/reset", false, page(s.uiActionReset))
	s.handle("POST", "/runs/{id}/cancel", false, page(s.uiActionCancel))
	s.handle("POST", "/runs/{id}/retry", false, page(s.uiActionRetry))
	s.handle("POST", "/sync", false, page(s.uiActionSync))
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
type loginView struct{ Error, Next string }

func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request, u *ui) {
	q := r.URL.Query()
	v := loginView{Next: localRedirect(q.Get("next"))}
	switch q.Get("error") {
	case "":
	case "expired":
		v.Error = "Your session has expired. Please log in again."
	case "ratelimited":
		v.Error = "Too many failed logins. Please wait a minute and try again."
	case "missing":
		v.Error = "Enter your user name and password."
	default:
		v.Error = "Wrong user name or password."
	}
	if v.Next == "/" {
		v.Next = ""
	}
	s.render(w, r, u, http.StatusOK, "login", pageView{Title: "Log in", InlineCSS: template.CSS(u.css), Body: v})
}

// shortRunID is how pages name a run in a few characters. Run IDs are
// UUIDv7s, whose first characters are a timestamp shared by every run
// queued in the same minute; the random tail tells them apart.
func shortRunID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}
