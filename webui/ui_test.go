package webui

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
	"github.com/fastflow-dev/fastflow/status/secrets"
)

// uiPipelines are the pipelines of the UI tests: valid, scheduled,
// disabled, broken, and one whose description is markup.
var uiPipelines = map[string]string{
	"hello/main.py":   "print('hello')\n",
	"nightly/main.py": "print('nightly')\n",
	"nightly/pipeline.json": `{"description": "nightly load", "tags": ["etl", "daily"], "schedule": "0 3 1 1 *", "timezone": "Europe/Berlin",
		"cpu_hard_limit": 1, "cpu_soft_limit": 0.5, "mem_hard_limit": "256m", "mem_soft_limit": "128m", "timeout": 1800,
		"secrets": ["API_TOKEN", "WAREHOUSE_DSN"],
		"parameters": {"DATE": {"type": "string", "required": true, "description": "day to load"}, "FULL": {"type": "boolean", "default": false},
			"MODE": {"type": "string", "enum": ["fast", "safe"], "default": "safe"}}}`,
	"disabled/main.py":       "print('off')\n",
	"disabled/pipeline.json": `{"enabled": false}`,
	"broken/main.py":         "print('broken')\n",
	"broken/pipeline.json":   `{"timeout": "soon"}`,
	"retrying/main.py":       "raise SystemExit(1)\n",
	"retrying/pipeline.json": `{"retry_attempts": 2, "tags": ["data team", " x"]}`,
	"xss/main.py":            "print('x')\n",
	"xss/pipeline.json":      `{"description": "<script>alert('desc')</script>"}`,
}

// Fixed run IDs of the UI tests, oldest first.
const (
	uiRunOK     = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a01"
	uiRunFailed = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a02"
	uiRunXSS    = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a03"
)

// newUIEnv is a server without Docker and three finished runs written
// straight into the store, each with a log file.
func newUIEnv(t *testing.T) *apiEnv {
	t.Helper()
	e := newAPIEnv(t, apiEnvOptions{files: uiPipelines, srvCfg: func(c *Config) {
		c.RepoFullName = "acme/pipelines"
		key, err := secrets.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		vault, err := secrets.New(c.Store, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := vault.Set(context.Background(), "API_TOKEN", "not shown anywhere"); err != nil {
			t.Fatal(err)
		}
		c.Secrets = vault
	}})
	ctx := context.Background()
	rev := e.op.SyncState().Live.Revision
	base := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	code1, code0 := 1, 0
	runs := []struct {
		run  status.Run
		logs []string
	}{
		{status.Run{ID: uiRunOK, Pipeline: "nightly", Status: status.RunSuccess, ExitCode: &code0, Trigger: status.TriggerSchedule,
			Attempt: 1, Parameters: map[string]string{"DATE": "2026-11-27"}}, []string{"loading", "\x1b[1;32mdone\x1b[0m in <b>8 s</b>"}},
		{status.Run{ID: uiRunFailed, Pipeline: "nightly", Status: status.RunFailed, ErrorType: status.ErrorExitCode, ExitCode: &code1,
			Message: "exit code 1", Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1, EnvNames: []string{"API_TOKEN"}},
			[]string{"Traceback (most recent call last):", "ValueError: bad row"}},
		{status.Run{ID: uiRunXSS, Pipeline: "hello", Status: status.RunSuccess, ExitCode: &code0, Trigger: status.TriggerManual,
			TriggeredBy: "alice", Attempt: 1}, []string{"<script>alert('log')</script>"}},
	}
	for i, rr := range runs {
		r := rr.run
		r.Revision = rev
		r.QueuedAt = base.Add(time.Duration(i) * time.Hour)
		r.StartedAt = r.QueuedAt.Add(time.Second)
		r.FinishedAt = r.StartedAt.Add(8*time.Second + 100*time.Millisecond)
		r.LogPath = filepath.Join(t.TempDir(), r.ID+".log")
		w, err := logs.Open(r.LogPath, logs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range rr.logs {
			if err := w.Write(runtime.LogLine{Time: r.StartedAt, Stream: "stdout", Text: text}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if r.ID == uiRunOK {
			r.MetricsPath = filepath.Join(t.TempDir(), r.ID+".metrics.jsonl")
			mw, err := metrics.Open(r.MetricsPath, metrics.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 8 {
				p := metrics.Point{Timestamp: r.StartedAt.Add(time.Duration(i) * time.Second), CPUPercent: float64(10 + 12*i),
					RAMMB: float64(40 + 15*i), RAMLimitMB: 256, SoftLimitExceeded: i >= 6, Throttled: i == 7}
				if err := mw.Write(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := mw.Close(); err != nil {
				t.Fatal(err)
			}
			r.SoftLimitExceeded, r.PeakCPUPercent, r.PeakRAMBytes = true, 94, 145<<20
		}
		if _, err := e.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// getPage fetches path with the bearer token, or without any credential.
func getPage(t *testing.T, e *apiEnv, path string, auth bool) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", e.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

var (
	// The timeline and the next fires move with the clock; the charts
	// have golden tests of their own on fixed times.
	uiInlineCSSRE = regexp.MustCompile(`(?s)<style>.*?</style>`)
	uiTimelineRE  = regexp.MustCompile(`(?s)<svg[^>]*class="chart chart-timeline".*?\n</section>`)
	uiZonedRE     = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z][A-Za-z0-9+-]*`)
	uiTookRE      = regexp.MustCompile(`class="took">[^<]*<`)
	uiTimeRE      = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	uiCursorRE    = regexp.MustCompile(`cursor=[^"&]+`)
)

// normalizePage replaces what differs between runs of a test: the
// revision of the test repository, times, and page cursors.
func normalizePage(e *apiEnv, page string) string {
	live := e.op.SyncState().Live
	page = strings.ReplaceAll(page, live.Revision, "REVISION")
	page = strings.ReplaceAll(page, live.ShortRevision(), "REV")
	page = uiTookRE.ReplaceAllString(page, `class="took">TOOK<`)
	// The login page carries style.css inline; the stylesheet is not
	// the page's rendering, and TestUIAccess checks it is there.
	page = uiInlineCSSRE.ReplaceAllString(page, "<style>STYLE.CSS</style>")
	page = uiTimelineRE.ReplaceAllString(page, "TIMELINE\n</section>")
	page = uiZonedRE.ReplaceAllString(page, "ZONED")
	page = uiTimeRE.ReplaceAllString(page, "TIME")
	return uiCursorRE.ReplaceAllString(page, "cursor=CURSOR")
}

// checkUIGolden compares a page with testdata/ui/name, or rewrites it
// with -update.
func checkUIGolden(t *testing.T, name, got string) {
	t.Helper()
	checkGoldenFile(t, filepath.Join("testdata", "ui", name), got)
}

// checkGoldenFile compares got with the file at path, or rewrites the file
// with -update.
func checkGoldenFile(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", filepath.Base(path), diff)
	}
}

// TestUIPagesGolden renders every page against a real server and pins
// its HTML.
func TestUIPagesGolden(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	tests := []struct {
		name, path string
		auth       bool
		code       int
	}{
		{"login.golden.html", "/login?next=%2Fruns%3Fstatus%3DFAILED", false, 200},
		{"login_error.golden.html", "/login?error=invalid", false, 200},
		{"login_expired.golden.html", "/login?error=expired&next=//evil.example", false, 200},
		{"dashboard.golden.html", "/", true, 200},
		{"pipeline_nightly.golden.html", "/pipelines/nightly", true, 200},
		{"pipeline_broken.golden.html", "/pipelines/broken", true, 200},
		{"pipeline_unknown.golden.html", "/pipelines/nope", true, 404},
		{"pipeline_retrying.golden.html", "/pipelines/retrying", true, 200},
		{"runs.golden.html", "/runs", true, 200},
		{"runs_page1.golden.html", "/runs?limit=2", true, 200},
		{"runs_failed.golden.html", "/runs?pipeline=nightly&status=FAILED", true, 200},
		{"runs_bad_query.golden.html", "/runs?status=LOST", true, 400},
		{"run_failed.golden.html", "/runs/" + uiRunFailed, true, 200},
		{"run_unknown.golden.html", "/runs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4aff", true, 404},
		{"run_ok.golden.html", "/runs/" + uiRunOK, true, 200},
		{"run_charts.golden.html", "/runs/" + uiRunOK + "/charts", true, 200},
		{"sync.golden.html", "/sync", true, 200},
		{"secrets.golden.html", "/secrets", true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := getPage(t, e, tt.path, tt.auth)
			if code != tt.code {
				t.Fatalf("GET %s: %d, want %d\n%s", tt.path, code, tt.code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q", tt.path, ct)
			}
			if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || hdr.Get("X-Frame-Options") != "DENY" {
				t.Errorf("GET %s: Content-Security-Policy %q, X-Frame-Options %q", tt.path, csp, hdr.Get("X-Frame-Options"))
			}
			checkUIGolden(t, tt.name, normalizePage(e, body))
		})
	}
}

// TestUIRunsPagination follows the "next" link to the last run.
func TestUIRunsPagination(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	_, _, first := getPage(t, e, "/runs?limit=2", true)
	if !strings.Contains(first, uiRunXSS) || !strings.Contains(first, uiRunFailed) || strings.Contains(first, uiRunOK) {
		t.Fatalf("first page is not the two newest runs:\n%s", first)
	}
	m := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("no next link:\n%s", first)
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	code, _, second := getPage(t, e, next, true)
	if code != 200 || !strings.Contains(second, uiRunOK) || strings.Contains(second, uiRunXSS) || strings.Contains(second, `rel="next"`) {
		t.Fatalf("GET %s: %d, want the oldest run alone:\n%s", next, code, second)
	}
}

// TestUIEscapes: markup in a pipeline's description and in a log line is
// shown as text, never run.
func TestUIEscapes(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	for _, tt := range []struct{ path, want string }{
		{"/", "&lt;script&gt;alert(&#39;desc&#39;)&lt;/script&gt;"},
		{"/pipelines/xss", "&lt;script&gt;alert(&#39;desc&#39;)&lt;/script&gt;"},
		{"/runs/" + uiRunXSS, "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;"},
	} {
		code, _, body := getPage(t, e, tt.path, true)
		if code != 200 {
			t.Fatalf("GET %s: %d", tt.path, code)
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("GET %s: unescaped <script> in the page:\n%s", tt.path, body)
		}
		if !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: want %s in the page:\n%s", tt.path, tt.want, body)
		}
	}
}

// TestUIAccess: pages and assets need a session or token; the login form
// does not, and carries its stylesheet inline.
func TestUIAccess(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	for _, p := range []string{"/", "/runs", "/runs/" + uiRunOK, "/pipelines/hello", "/static/style.css"} {
		if code, _, _ := getPage(t, e, p, false); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", p, code)
		}
	}
	code, hdr, css := getPage(t, e, "/static/style.css", true)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/css") || !strings.Contains(hdr.Get("Cache-Control"), "max-age=") || !strings.Contains(css, ".st-failed") {
		t.Errorf("GET /static/style.css: %d %v", code, hdr)
	}
	for _, p := range []string{"/static/nope.css", "/static/../content.go"} {
		if code, _, _ := getPage(t, e, p, true); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	code, _, login := getPage(t, e, "/login", false)
	if code != 200 || !strings.Contains(login, `action="/auth/login"`) || !strings.Contains(login, "<style>") {
		t.Errorf("GET /login: %d\n%s", code, login)
	}
}

// TestNewUIParses: every page template parses with the layout.
func TestNewUIParses(t *testing.T) {
	t.Parallel()
	u, err := newUI()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range uiPageNames {
		if u.pages[name] == nil {
			t.Errorf("page %s missing", name)
		}
	}
}

// TestUIRunsFilters: the runs page's trigger and time filters, with the
// zone-less times an HTML datetime-local field sends (taken as UTC).
func TestUIRunsFilters(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	for _, tt := range []struct {
		query     string
		want, not []string
	}{
		{"trigger=schedule", []string{uiRunOK}, []string{uiRunFailed, uiRunXSS}},
		{"trigger=manual&since=2026-11-27T05:30", []string{uiRunFailed, uiRunXSS}, []string{uiRunOK}},
		{"since=2026-11-27&until=2026-11-27T06:00&pipeline=", []string{uiRunOK}, []string{uiRunFailed, uiRunXSS}},
		{"trigger=manual&status=&pipeline=hello", []string{uiRunXSS}, []string{uiRunOK, uiRunFailed}},
	} {
		code, _, body := getPage(t, e, "/runs?"+tt.query, true)
		if code != http.StatusOK {
			t.Fatalf("GET /runs?%s: %d\n%s", tt.query, code, body)
		}
		for _, id := range tt.want {
			if !strings.Contains(body, `href="/runs/`+id+`"`) {
				t.Errorf("GET /runs?%s: run %s missing", tt.query, id)
			}
		}
		for _, id := range tt.not {
			if strings.Contains(body, `href="/runs/`+id+`"`) {
				t.Errorf("GET /runs?%s: run %s listed", tt.query, id)
			}
		}
	}
	if code, _, body := getPage(t, e, "/runs?trigger=cron", true); code != http.StatusBadRequest || !strings.Contains(body, "unknown trigger") {
		t.Errorf("GET /runs?trigger=cron: %d, want 400 naming the trigger", code)
	}
}

// TestUIRetryChain: a run's page lists the runs it retried and its
// retries, however many other runs came in between.
func TestUIRetryChain(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	mk := func(id, retryOf string, attempt int, at time.Duration) {
		t.Helper()
		if _, err := e.store.CreateRun(ctx, status.Run{ID: id, Pipeline: "nightly", Status: status.RunFailed, RetryOf: retryOf,
			Attempt: attempt, Trigger: status.TriggerRetry, QueuedAt: base.Add(at)}); err != nil {
			t.Fatal(err)
		}
	}
	const (
		second = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b01"
		third  = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b02"
	)
	mk(second, uiRunFailed, 2, 0)
	// Runs of the same pipeline between the retries, more than a page.
	for i := range 300 {
		if _, err := e.store.CreateRun(ctx, status.Run{Pipeline: "nightly", Status: status.RunSuccess, Attempt: 1,
			Trigger: status.TriggerSchedule, QueuedAt: base.Add(time.Duration(i+1) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	mk(third, second, 3, time.Hour)
	for _, id := range []string{uiRunFailed, second, third} {
		code, _, body := getPage(t, e, "/runs/"+id, true)
		if code != http.StatusOK {
			t.Fatalf("GET /runs/%s: %d", id, code)
		}
		chain := body[strings.Index(body, `<ol class="chain">`):]
		chain = chain[:strings.Index(chain, "</ol>")]
		at := -1
		for _, want := range []string{uiRunFailed, second, third} {
			i := strings.Index(chain, shortRunID(want))
			if i <= at {
				t.Errorf("run %s: chain lacks %s in order:\n%s", id, want, chain)
			}
			at = i
		}
	}
}
