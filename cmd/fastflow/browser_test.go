package main

// End-to-end tests of the web UI in a real Chromium (browser_harness_test.go)
// against a real `fastflow serve` on Docker. The URLs and the DOM they rely
// on are the web UI's contract: the login form posting to /auth/login, the
// dashboard's #pipelines rows and #pipeline-filter, the run page's
// [data-run-status], #log-lines, #log-state, #log-dropped, the action forms,
// and window.fastflow.{logLineCount,lastLogN,state} of app.js.

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/heapprofiler"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/fastflow-dev/fastflow/status"
)

const (
	// runStatusJS is the status a run page shows.
	runStatusJS = `(document.querySelector("[data-run-status]")?.textContent || "").trim().toUpperCase()`
	// logStateJS is the log viewer's state (live, reconnecting, ended, static).
	logStateJS = `(document.getElementById("log-state")?.dataset.state || "")`
	// visibleRowsJS lists the dashboard rows shown, by pipeline name.
	visibleRowsJS = `[...document.querySelectorAll("#pipelines tbody tr[data-pipeline]")]
		.filter(r => r.getClientRects().length > 0).map(r => r.dataset.pipeline).sort().join(",")`
	// logLinesJS is every line of the log viewer.
	logLinesJS = `[...document.querySelectorAll("#log-lines .line")].map(l => ({
		n: Number(l.dataset.n || 0),
		skipped: l.classList.contains("skipped"),
		text: (l.querySelector(".tx") || l).textContent}))`
	// runPathPattern is the path of a run page.
	runPathPattern = `^/runs/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
)

// logLine is one line of the log viewer.
type logLine struct {
	N       int    `json:"n"`
	Skipped bool   `json:"skipped"`
	Text    string `json:"text"`
}

// waitRunStatus waits until the run page shows the status.
func (b *browser) waitRunStatus(want string, timeout time.Duration) {
	b.t.Helper()
	b.waitFor("the run page to show "+want+" in [data-run-status]", timeout, runStatusJS+` === "`+want+`"`)
}

// startRunFromPage clicks the run button of the pipeline page open in the
// tab and returns the id of the run page it lands on.
func (b *browser) startRunFromPage() string {
	b.t.Helper()
	b.do("click the run button",
		chromedp.Click(chromedp.CSS(`form[action$="/run"] button:not([type=button]):not([type=reset])`)))
	b.waitFor("the run page after starting a run", browserStepTimeout,
		`new RegExp(`+jsString(runPathPattern)+`).test(location.pathname)`)
	return strings.TrimPrefix(b.path(), "/runs/")
}

// TestBrowserLogin: a page without a session sends the browser to the login
// form (remembering where it was going); a wrong password is refused with a
// message; the right one lands on the dashboard, which lists the
// pipelines; logging in from the redirect goes back to the page asked for.
func TestBrowserLogin(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{
		"alpha/main.py": "print('alpha')\n",
		"beta/main.py":  "print('beta')\n",
	}, nil, nil)
	base := serverURL(srv)
	b := newBrowser(t)

	b.navigate(base + "/runs")
	if got := evalJS[string](b, `location.pathname + " next=" + new URLSearchParams(location.search).get("next")`); got != "/login next=/runs" {
		t.Fatalf("/runs without a session: at %q, want /login with next=/runs", got)
	}
	b.waitFor("the login form", browserStepTimeout, `document.querySelector('`+loginForm+` input[name=password]')`)

	b.submitLogin("ci", "not-the-password")
	if p := evalJS[string](b, "location.pathname"); p != "/login" {
		t.Fatalf("after a wrong password: at %s, want /login\n%s", p, b.pageText())
	}
	if !evalJS[bool](b, `/wrong|invalid|incorrect/i.test(document.body.innerText)`) {
		t.Errorf("after a wrong password the login page shows no error message:\n%s", b.pageText())
	}
	b.navigate(base + "/")
	if p := evalJS[string](b, "location.pathname"); p != "/login" {
		t.Fatalf("a wrong password opened a session: / is at %s", p)
	}

	b.navigate(base + "/login")
	b.submitLogin("ci", "s3cret-password")
	b.waitFor("the dashboard", browserStepTimeout, `location.pathname === "/" && document.querySelector("#pipelines")`)
	if rows := evalJS[string](b, visibleRowsJS); rows != "alpha,beta" {
		t.Errorf("dashboard rows %q, want alpha,beta\n%s", rows, b.pageText())
	}

	other := b.freshContext("next")
	other.navigate(base + "/runs")
	other.submitLogin("ci", "s3cret-password")
	if p := evalJS[string](other, "location.pathname"); p != "/runs" {
		t.Errorf("logging in from /login?next=/runs landed on %s, want /runs", p)
	}
}

// TestBrowserDashboard: every pipeline has its row; typing in the name
// filter hides the others at once, the tag filter keeps the tagged ones,
// and a filter that matches nothing says so.
func TestBrowserDashboard(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{
		"ingest-orders/main.py":       "print('orders')\n",
		"ingest-orders/pipeline.json": `{"tags": ["ingest"]}`,
		"ingest-users/main.py":        "print('users')\n",
		"ingest-users/pipeline.json":  `{"tags": ["ingest"]}`,
		"report-daily/main.py":        "print('report')\n",
		"report-daily/pipeline.json":  `{"tags": ["reports"]}`,
	}, nil, nil)
	base := serverURL(srv)
	b := newBrowser(t)
	b.login(base)

	const all = "ingest-orders,ingest-users,report-daily"
	if rows := evalJS[string](b, visibleRowsJS); rows != all {
		t.Fatalf("dashboard rows %q, want %q\n%s", rows, all, b.pageText())
	}
	filter := `#pipeline-filter input[name=q]`
	typeFilter := func(text string) {
		t.Helper()
		b.typeInto(filter, text)
	}

	typeFilter("users")
	b.waitFor(`only ingest-users shown for "users"`, 5*time.Second, visibleRowsJS+` === "ingest-users"`)
	if p := evalJS[string](b, "location.pathname"); p != "/" {
		t.Errorf("typing in the filter navigated to %s", p)
	}
	typeFilter("ingest")
	b.waitFor(`the two ingest pipelines shown for "ingest"`, 5*time.Second, visibleRowsJS+` === "ingest-orders,ingest-users"`)
	typeFilter("no-such-pipeline")
	b.waitFor("no row and #filter-empty shown", 5*time.Second,
		visibleRowsJS+` === "" && document.getElementById("filter-empty")?.getClientRects().length > 0`)
	typeFilter("")
	b.waitFor("every row back with an empty filter", 5*time.Second,
		visibleRowsJS+` === "`+all+`" && !(document.getElementById("filter-empty")?.getClientRects().length > 0)`)

	evalJS[bool](b, `(() => { const s = document.querySelector("#pipeline-filter select[name=tag]");
		s.value = "reports"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	b.waitFor(`only report-daily shown for tag "reports"`, 5*time.Second, visibleRowsJS+` === "report-daily"`)
}

// TestBrowserRunWithParameter: the pipeline page's form starts a run with a
// parameter typed into its field and lands on the run page, where the log
// lines arrive while the run goes on (the first one well before it ends)
// and the status turns SUCCESS by itself.
func TestBrowserRunWithParameter(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{
		"greet/pipeline.json": `{"parameters": {"WHO": {"type": "string", "default": "world", "description": "Whom to greet"}}}`,
		"greet/main.py": "import os, time\nwho = os.environ['WHO']\nfor i in range(1, 7):\n" +
			"    print(f'greeting {i} of 6: hello {who}', flush=True)\n    time.sleep(1)\n",
	}, nil, nil)
	base := serverURL(srv)
	b := newBrowser(t)
	b.login(base)
	b.navigate(base + "/pipelines/greet")
	field := `form[action$="/run"] [name="p.WHO"]`
	b.do("wait for the parameter field", chromedp.WaitVisible(chromedp.CSS(field)))
	b.typeInto(field, "Fast-Flow")
	id := b.startRunFromPage()

	type snapshot struct {
		Lines  int    `json:"lines"`
		Status string `json:"status"`
		State  string `json:"state"`
	}
	var first snapshot
	var firstAt time.Time
	sawLive := false
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, err := tryEvalJS[snapshot](b, 5*time.Second, `({lines: document.querySelectorAll("#log-lines .line:not(.skipped)").length,
			status: `+runStatusJS+`, state: `+logStateJS+`})`)
		if err == nil {
			if firstAt.IsZero() && s.Lines > 0 {
				first, firstAt = s, time.Now()
			}
			sawLive = sawLive || (s.State == "live" && !status.RunStatus(s.Status).Final())
			if s.Status == "SUCCESS" {
				break
			}
			if status.RunStatus(s.Status).Final() {
				t.Fatalf("run %s ended %s, want SUCCESS\n%s", id, s.Status, b.pageText())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: no SUCCESS on its page after 90 s (last: %+v, %v)\n%s", id, s, err, b.pageText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if firstAt.IsZero() {
		t.Fatal("no log line appeared before the page showed SUCCESS")
	}
	if first.Lines >= 6 || status.RunStatus(first.Status).Final() {
		t.Errorf("the first lines arrived as %+v: want fewer than 6 lines and a run not ended yet", first)
	}
	if !sawLive {
		t.Error(`#log-state was never "live" while the run went on`)
	}
	run := apiRun(srv, id)
	if run.Status != "SUCCESS" || run.FinishedAt == nil || run.FinishedAt.Sub(firstAt) < 2*time.Second {
		t.Errorf("run %s: %s finished at %v, first line shown at %v: want the first line seen seconds before the end",
			id, run.Status, run.FinishedAt, firstAt)
	}
	lines := evalJS[[]logLine](b, logLinesJS)
	var texts []string
	for _, l := range lines {
		texts = append(texts, l.Text)
	}
	for i := 1; i <= 6; i++ {
		want := fmt.Sprintf("greeting %d of 6: hello Fast-Flow", i)
		if !slices.Contains(texts, want) {
			t.Errorf("the log lacks %q; it has %q", want, texts)
		}
	}
	b.waitFor(`#log-state "ended"`, 5*time.Second, logStateJS+` === "ended"`)
}

// TestBrowserCancel: the cancel button of a running run (after its
// confirmation, when it asks one) stops it, and the page shows CANCELLED,
// as the API does.
func TestBrowserCancel(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{
		"sleeper/main.py": "import time\nprint('going to sleep', flush=True)\ntime.sleep(300)\n",
	}, nil, nil)
	base := serverURL(srv)
	b := newBrowser(t)
	b.login(base)
	b.navigate(base + "/pipelines/sleeper")
	id := b.startRunFromPage()
	b.waitFor("the sleeper's first line", 60*time.Second,
		`[...document.querySelectorAll("#log-lines .line")].some(l => l.textContent.includes("going to sleep"))`)
	if run := apiRun(srv, id); run.Status != "RUNNING" {
		t.Fatalf("the sleeper printed, but the API says its run is %s, not RUNNING", run.Status)
	}

	dialogs := b.acceptDialogs()
	cancelForm := `form[action$="/cancel"]`
	question := evalJS[string](b, `document.querySelector('`+cancelForm+`')?.dataset.confirm || ""`)
	b.do("click the cancel button", chromedp.Click(chromedp.CSS(cancelForm+` button`)))
	b.waitRunStatus("CANCELLED", 60*time.Second)
	t.Logf("the cancel form asks %q; dialogs seen: %q", question, dialogs.seen())
	if question != "" && !slices.Contains(dialogs.seen(), question) {
		t.Errorf("the cancel form asks %q, but the dialogs were %q", question, dialogs.seen())
	}
	if run := apiRun(srv, id); run.Status != "CANCELLED" {
		t.Errorf("the page says CANCELLED, the API says %s", run.Status)
	}
}

// TestBrowserQueueCheckbox: with MAX_CONCURRENT_RUNS=1 taken, the run form
// refuses a run and its message names the "Queue if all slots are busy"
// box; ticked, the box queues the run: the browser lands on the run page,
// told so, and the page shows the run PENDING and queued. Without
// JavaScript the plain form does the same through a redirect and a flash.
// Once the slot frees, both queued runs succeed and the open page follows.
func TestBrowserQueueCheckbox(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{
		"sleeper/main.py": "import time\nprint('holding the only slot', flush=True)\ntime.sleep(300)\n",
		"hello/main.py":   "print('hello from the queue', flush=True)\n",
	}, []string{"MAX_CONCURRENT_RUNS=1"}, nil)
	base := serverURL(srv)
	sleeper := apiStartRun(srv, "sleeper", nil)

	const (
		box        = `form[action$="/run"] input[type=checkbox][name=queue]`
		queuedNote = `document.getElementById("run-queued")?.textContent || ""`
		errorToast = `[...document.querySelectorAll("#toasts .toast-error")].map(t => t.textContent).join(" ")`
		okToast    = `[...document.querySelectorAll("#toasts .toast-success")].map(t => t.textContent).join(" ")`
	)
	b := newBrowser(t)
	b.login(base)
	b.navigate(base + "/pipelines/hello")
	label := evalJS[string](b, `document.querySelector(`+jsString(box)+`)?.closest("label")?.textContent.trim() || ""`)
	if label != "Queue if all slots are busy" {
		t.Fatalf("run form: checkbox label %q, want \"Queue if all slots are busy\"\n%s", label, b.pageText())
	}
	if evalJS[bool](b, `document.querySelector(`+jsString(box)+`).checked`) {
		t.Error("the queue box is ticked before anyone ticked it")
	}

	// Unticked: refused, and told how to get the run anyway.
	b.do("click the run button with the box unticked",
		chromedp.Click(chromedp.CSS(`form[action$="/run"] button[type=submit]`)))
	b.waitFor("an error toast naming the queue box", browserStepTimeout,
		errorToast+`.includes("Queue if all slots are busy")`)
	if p := b.path(); p != "/pipelines/hello" {
		t.Errorf("a refused run left the pipeline page for %s", p)
	}

	// Ticked: queued.
	b.do("tick the queue box", chromedp.Click(chromedp.CSS(box)))
	first := b.startRunFromPage()
	b.waitFor("a toast saying the run was queued", browserStepTimeout, okToast+`.includes("queued")`)
	if got := evalJS[string](b, runStatusJS); got != "PENDING" {
		t.Errorf("queued run page: status %q, want PENDING", got)
	}
	if note := evalJS[string](b, queuedNote); !strings.Contains(note, "waiting for one of the MAX_CONCURRENT_RUNS slots") {
		t.Errorf("queued run page: #run-queued %q\n%s", note, b.pageText())
	}
	if run := apiRun(srv, first); run.Status != "PENDING" {
		t.Errorf("the API says the queued run is %s, want PENDING", run.Status)
	}

	// Without JavaScript: the plain form, a redirect and a flash.
	nojs := b.freshContext("nojs")
	ctx, cancel := context.WithTimeout(nojs.ctx, browserStepTimeout)
	_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	cancel()
	if err != nil {
		t.Fatalf("turn scripts off: %v", err)
	}
	nojs.login(base)
	nojs.navigate(base + "/pipelines/hello")
	nojs.do("tick the queue box without JavaScript", chromedp.Click(chromedp.CSS(box)))
	nojs.clickAndLoad("submit the run form without JavaScript", `form[action$="/run"] button[type=submit]`)
	if !regexp.MustCompile(runPathPattern).MatchString(nojs.path()) {
		t.Fatalf("without JavaScript: at %s after queueing, want a run page\n%s", nojs.where(), nojs.pageText())
	}
	second := strings.TrimPrefix(nojs.path(), "/runs/")
	if toast := evalJS[string](nojs, okToast); !strings.Contains(toast, "queued") {
		t.Errorf("without JavaScript: flash %q, want it to say the run was queued", toast)
	}
	if note := evalJS[string](nojs, queuedNote); note == "" {
		t.Errorf("without JavaScript: the run page has no #run-queued note\n%s", nojs.pageText())
	}

	if code := apiDo(srv, "POST", "/api/runs/"+sleeper+"/cancel", nil, nil); code != http.StatusAccepted {
		t.Fatalf("cancel the sleeper: HTTP %d", code)
	}
	b.waitRunStatus("SUCCESS", 2*time.Minute)
	b.waitFor("the queued run's output on its page", browserStepTimeout,
		`[...document.querySelectorAll("#log-lines .line")].some(l => l.textContent.includes("hello from the queue"))`)
	if run := apiWaitRun(srv, second, 2*time.Minute); run.Status != "SUCCESS" {
		t.Errorf("the run queued without JavaScript ended %s, want SUCCESS", run.Status)
	}
}

// TestBrowserFailedRun: the page of a run that raised shows FAILED, the
// error in words with its exit code, and the traceback in the log.
func TestBrowserFailedRun(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{
		"broken/main.py": "print('about to fail', flush=True)\nraise RuntimeError('the browser test fails on purpose')\n",
	}, nil, nil)
	base := serverURL(srv)
	id := apiStartRun(srv, "broken", nil)
	if run := apiWaitRun(srv, id, 90*time.Second); run.Status != "FAILED" {
		t.Fatalf("run of broken ended %s, want FAILED", run.Status)
	}
	b := newBrowser(t)
	b.login(base)
	b.navigate(base + "/runs/" + id)
	if s := evalJS[string](b, runStatusJS); s != "FAILED" {
		t.Errorf("[data-run-status] says %q, want FAILED", s)
	}
	// One line naming the error type with the exit code, e.g.
	// "Exit code: the program ended with a non-zero exit code (1)", not the
	// label of the exit code field alone.
	errLine := evalJS[string](b, `(document.querySelector("main") || document.body).innerText.split("\n")
		.find(l => /exit code/i.test(l) && /\b1\b/.test(l) && l.trim().length > "Exit code 1".length) || ""`)
	if errLine == "" {
		t.Errorf("the page shows no error text with \"Exit code\" and the exit code 1:\n%s", b.pageText())
	} else {
		t.Logf("error text: %q", errLine)
	}
	b.waitFor("the traceback in #log-lines", browserStepTimeout,
		`[...document.querySelectorAll("#log-lines .line")].some(l => l.textContent.includes("RuntimeError: the browser test fails on purpose"))`)
}

// TestBrowserRefusedWithoutSession: a browser context without the session
// gets the login form for the dashboard, and the API answers it 401, while
// the logged-in context of the same browser gets both.
func TestBrowserRefusedWithoutSession(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{"hello/main.py": "print('hello')\n"}, nil, nil)
	base := serverURL(srv)
	b := newBrowser(t)
	b.login(base)
	if code := evalJS[int](b, `fetch("/api/runs", {credentials: "same-origin"}).then(r => r.status)`); code != http.StatusOK {
		t.Errorf("/api/runs with the session: HTTP %d, want 200", code)
	}

	fresh := b.freshContext("no-session")
	fresh.navigate(base + "/")
	if p := evalJS[string](fresh, "location.pathname"); p != "/login" {
		t.Errorf("/ without a session: at %s, want /login\n%s", p, fresh.pageText())
	}
	if !evalJS[bool](fresh, `!!document.querySelector('`+loginForm+` input[name=password]')`) {
		t.Errorf("/login without a session shows no login form:\n%s", fresh.pageText())
	}
	if code := evalJS[int](fresh, `fetch("/api/runs", {credentials: "same-origin"}).then(r => r.status)`); code != http.StatusUnauthorized {
		t.Errorf("/api/runs from a page without a session: HTTP %d, want 401", code)
	}

	client := &http.Client{
		Timeout:       browserStepTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(base + "/api/runs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/runs without credentials: HTTP %d, want 401", resp.StatusCode)
	}
}

// TestBrowserLogCap: a run that prints 50,000 lines at once never has more
// than 2,000 lines in its page, the page says older lines are not kept,
// and the last line shown is the last line printed.
func TestBrowserLogCap(t *testing.T) {
	requireChromium(t)
	const total = 50000
	srv := startServer(t, map[string]string{
		// The first sleep lets the page open and go live before the
		// flood; the last keeps the run going while the page catches up.
		"flood/main.py": fmt.Sprintf("import sys, time\ntime.sleep(4)\nw = sys.stdout.write\n"+
			"for i in range(1, %d):\n    w(f'flood line {i}\\n')\nsys.stdout.flush()\ntime.sleep(3)\n", total+1),
	}, []string{"LOG_STREAM_RATE_LIMIT=100000"}, nil)
	base := serverURL(srv)
	b := newBrowser(t)
	b.login(base)
	id := apiStartRun(srv, "flood", nil)
	b.navigate(base + "/runs/" + id)
	b.waitFor("the log viewer live", 30*time.Second, `window.fastflow && window.fastflow.state() === "live"`)

	type sample struct {
		Count  int    `json:"count"`
		DOM    int    `json:"dom"`
		Last   int    `json:"last"`
		State  string `json:"state"`
		Status string `json:"status"`
	}
	var maxCount, maxDOM, samples int
	deadline := time.Now().Add(120 * time.Second)
	for {
		s, err := tryEvalJS[sample](b, 5*time.Second, `({count: window.fastflow.logLineCount(),
			dom: document.querySelectorAll("#log-lines .line").length,
			last: window.fastflow.lastLogN(), state: window.fastflow.state(), status: `+runStatusJS+`})`)
		if err == nil {
			samples++
			maxCount, maxDOM = max(maxCount, s.Count), max(maxDOM, s.DOM)
			if s.Count > 2000 || s.DOM > 2000 {
				t.Fatalf("the page holds %d lines (logLineCount %d), over 2000 (last n %d, state %s)", s.DOM, s.Count, s.Last, s.State)
			}
			if s.State == "ended" && status.RunStatus(s.Status).Final() {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: the page did not end after 120 s (last sample %+v, %v)", id, s, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Logf("%d samples; at most %d lines counted, %d .line elements", samples, maxCount, maxDOM)
	if s := evalJS[string](b, runStatusJS); s != "SUCCESS" {
		t.Errorf("run ended %s, want SUCCESS", s)
	}
	lines := evalJS[[]logLine](b, logLinesJS)
	if len(lines) < 1500 || len(lines) > 2000 {
		t.Errorf("the page ended with %d lines, want 1500..2000 of the %d printed", len(lines), total)
	}
	if len(lines) > 0 {
		last := lines[len(lines)-1]
		if want := fmt.Sprintf("flood line %d", total); last.Text != want {
			t.Errorf("the last line shown is %q (n %d), want %q", last.Text, last.N, want)
		}
		if n := evalJS[int](b, "window.fastflow.lastLogN()"); n != last.N {
			t.Errorf("lastLogN() = %d, the last line's data-n is %d", n, last.N)
		}
		if lines[0].N <= 1 {
			t.Errorf("the first line kept is n %d: the oldest lines were not dropped", lines[0].N)
		}
	}
	if !evalJS[bool](b, `(() => { const d = document.getElementById("log-dropped"); return !!d && !d.hidden && d.getClientRects().length > 0 })()`) {
		t.Errorf("#log-dropped is not shown after %d lines", total)
	}
}

// TestBrowserReconnect: when every connection between the browser and the
// server is cut while a run prints, the log viewer says it is
// reconnecting, resumes after the last line it had, and ends with every
// line exactly once, in order.
func TestBrowserReconnect(t *testing.T) {
	requireChromium(t)
	const ticks = 200
	srv := startServer(t, map[string]string{
		"ticker/main.py": fmt.Sprintf("import time\ntime.sleep(2)\nfor i in range(1, %d):\n"+
			"    print(f'tick {i}', flush=True)\n    time.sleep(0.05)\n", ticks+1),
	}, []string{"LOG_STREAM_RATE_LIMIT=100000"}, nil)
	proxy := newTCPProxy(t, srv.addr)
	base := "http://" + proxy.addr()
	b := newBrowser(t)
	b.login(base)
	id := apiStartRun(srv, "ticker", nil)
	b.navigate(base + "/runs/" + id)
	// Record every state #log-state takes, however briefly.
	evalJS[bool](b, `(() => {
		window.__logStates = [];
		const rec = () => {
			const s = document.getElementById("log-state")?.dataset.state;
			if (s && window.__logStates[window.__logStates.length - 1] !== s) window.__logStates.push(s);
		};
		rec();
		new MutationObserver(rec).observe(document.documentElement,
			{subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"]});
		return true })()`)
	b.waitFor("40 ticks in the page", 60*time.Second,
		`window.fastflow && window.fastflow.state() === "live" && [...document.querySelectorAll("#log-lines .line .tx")].some(l => l.textContent === "tick 40")`)

	before := proxy.connections()
	cut := proxy.cut()
	if cut == 0 {
		t.Fatal("the proxy carried no connection to cut")
	}
	cutAt := evalJS[int](b, "window.fastflow.lastLogN()")
	t.Logf("cut %d connections after line %d", cut, cutAt)
	b.waitFor(`#log-state "reconnecting" after the cut`, 10*time.Second, `window.__logStates.includes("reconnecting")`)
	b.waitFor(`#log-state "live" again`, 30*time.Second,
		`window.__logStates.lastIndexOf("live") > window.__logStates.indexOf("reconnecting")`)
	if after := proxy.connections(); after <= before {
		t.Errorf("no new connection through the proxy after the cut (%d before, %d after)", before, after)
	}
	b.waitRunStatus("SUCCESS", 60*time.Second)
	b.waitFor(`#log-state "ended"`, 10*time.Second, logStateJS+` === "ended"`)
	t.Logf("#log-state went through %v", evalJS[[]string](b, "window.__logStates"))

	lines := evalJS[[]logLine](b, logLinesJS)
	seen := map[int]bool{}
	offset := 0
	var bad []string
	for i, l := range lines {
		if l.Skipped {
			bad = append(bad, fmt.Sprintf("a skipped notice %q", l.Text))
			continue
		}
		if seen[l.N] {
			bad = append(bad, fmt.Sprintf("line %d twice", l.N))
		}
		seen[l.N] = true
		if i > 0 && l.N != lines[i-1].N+1 {
			bad = append(bad, fmt.Sprintf("line %d after line %d", l.N, lines[i-1].N))
		}
		k, err := strconv.Atoi(strings.TrimPrefix(l.Text, "tick "))
		if err != nil || !strings.HasPrefix(l.Text, "tick ") {
			bad = append(bad, fmt.Sprintf("line %d is %q", l.N, l.Text))
			continue
		}
		if offset == 0 {
			offset = l.N - k
		}
		if l.N-k != offset {
			bad = append(bad, fmt.Sprintf("line %d says %q", l.N, l.Text))
		}
	}
	if len(lines) != ticks {
		bad = append(bad, fmt.Sprintf("%d lines, want %d", len(lines), ticks))
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("and %d more", len(bad)-20))
		}
		t.Errorf("the log after the reconnect is not every line once, in order:\n%s", strings.Join(bad, "\n"))
	}
}

// TestScreenshots is not a check: it renders every page of the web UI with
// the example pipelines and a few runs, at a desktop and a phone width, and
// saves the PNGs (<page>-desktop.png, <page>-phone.png) into
// $FASTFLOW_SCREENSHOTS_DIR for the documentation.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("FASTFLOW_SCREENSHOTS_DIR")
	if dir == "" {
		t.Skip("FASTFLOW_SCREENSHOTS_DIR is not set (this test only writes screenshots for the documentation)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	requireChromium(t)
	files := map[string]string{}
	root := filepath.Join("..", "..", "examples", "pipelines")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A pipeline with some work to show on the run page: CPU and memory
	// climbing towards its soft and hard limits for a dozen seconds.
	files["warehouse-load/pipeline.json"] = `{"description": "Loads the day's orders into the warehouse.", "tags": ["etl", "nightly"],
		"cpu_hard_limit": 1, "cpu_soft_limit": 0.5, "mem_hard_limit": "256m", "mem_soft_limit": "96m", "timeout": 600}`
	files["warehouse-load/main.py"] = `import time
rows, held = 0, []
for step in range(12):
    end = time.time() + 1
    while time.time() < end:
        rows += 1
    held.append(bytearray(10 * 1024 * 1024))
    print(f"\x1b[32mINFO\x1b[0m step {step + 1}/12: {rows} rows, {10 * len(held)} MiB buffered", flush=True)
print("\x1b[1mdone\x1b[0m")
`
	key, _, _ := (&testServer{t: t}).cli("", nil, "keygen")
	srv := startServer(t, files, []string{"ENCRYPTION_KEY=" + strings.TrimSpace(key)}, func(s *testServer) {
		s.cli("example-password\n", s.environ, "secret", "set", "DB_PASSWORD")
		s.cli("example-token\n", s.environ, "secret", "set", "API_TOKEN")
	})
	base := serverURL(srv)
	var runID, oomID string
	for _, r := range []struct {
		pipeline string
		params   map[string]any
	}{
		{"hello", nil},
		{"fails", nil},
		{"parameters", map[string]any{"DATE": "2024-06-01", "LIMIT": 3, "MODE": "full"}},
		{"out-of-memory", nil},
		{"warehouse-load", nil},
	} {
		id := apiStartRun(srv, r.pipeline, r.params)
		run := apiWaitRun(srv, id, 2*time.Minute)
		t.Logf("run of %s: %s", r.pipeline, run.Status)
		// The run page shows the run with the most to see: CPU and
		// memory climbing past its soft limits, coloured log lines.
		switch r.pipeline {
		case "warehouse-load":
			runID = id
		case "out-of-memory":
			oomID = id
		}
	}

	b := newBrowser(t)
	anon := b.freshContext("login")
	b.login(base)
	pages := []struct{ name, path string }{
		{"dashboard", "/"},
		{"pipeline", "/pipelines/parameters"},
		{"runs", "/runs"},
		{"run", "/runs/" + runID},
		{"run-failed", "/runs/" + oomID},
		{"sync", "/sync"},
		{"secrets", "/secrets"},
	}
	shoot := func(tab *browser, name, url string) {
		t.Helper()
		tab.navigate(url)
		tab.waitFor("the page to settle", browserStepTimeout, `document.readyState === "complete" && document.fonts.status === "loaded"`)
		time.Sleep(500 * time.Millisecond) // app.js rewrites times, fetches charts
		buf := runAction(tab, "screenshot "+name, chromedp.FullScreenshot(100))
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	for _, view := range []struct {
		suffix string
		setup  chromedp.Action[chromedp.Void]
	}{
		{"desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight)},
		{"phone", chromedp.Emulate(device.IPhone13)}, // 390x844, mobile, touch
	} {
		anon.do("emulate "+view.suffix, view.setup)
		shoot(anon, "login-"+view.suffix, base+"/login")
		b.do("emulate "+view.suffix, view.setup)
		for _, p := range pages {
			shoot(b, p.name+"-"+view.suffix, base+p.path)
		}
	}
}

// BenchmarkBrowserLogHeap follows a run printing 1,000 lines a second for
// FASTFLOW_BENCH_HEAP_MINUTES minutes (default 10) in its run page and
// reports the page's JavaScript heap after a forced garbage collection at
// minute 1 and at the end, and their ratio: the log viewer must not grow
// with the lines it has seen. Run it with FASTFLOW_BENCH_HEAP=1:
//
//	FASTFLOW_BENCH_HEAP=1 go test -run '^$' -bench BrowserLogHeap -benchtime 1x -timeout 30m ./cmd/fastflow/
func BenchmarkBrowserLogHeap(b *testing.B) {
	if os.Getenv("FASTFLOW_BENCH_HEAP") != "1" {
		b.Skip("set FASTFLOW_BENCH_HEAP=1 to run it (it takes FASTFLOW_BENCH_HEAP_MINUTES, default 10, minutes)")
	}
	minutes := 10.0
	if v := os.Getenv("FASTFLOW_BENCH_HEAP_MINUTES"); v != "" {
		m, err := strconv.ParseFloat(v, 64)
		if err != nil || m < 1.5 {
			b.Fatalf("FASTFLOW_BENCH_HEAP_MINUTES=%q: want a number of minutes, at least 1.5", v)
		}
		minutes = m
	}
	requireChromium(b)
	total := int(minutes * 60 * 1000)
	script := fmt.Sprintf(`import sys, time
total = %d
start = time.monotonic()
n = 0
w = sys.stdout.write
while n < total:
    due = min(total, int((time.monotonic() - start) * 1000) + 1)
    while n < due:
        n += 1
        w(f"{n:09d} the quick brown fox jumps over the lazy dog \x1b[32mok\x1b[0m \x1b[1mbold\x1b[0m\n")
    sys.stdout.flush()
    time.sleep(0.01)
`, total)
	srv := startServer(b, map[string]string{
		"firehose/main.py":       script,
		"firehose/pipeline.json": fmt.Sprintf(`{"timeout": %d}`, int(minutes*60)+600),
	}, []string{"LOG_STREAM_RATE_LIMIT=2000"}, nil)
	base := serverURL(srv)
	br := newBrowser(b)
	br.login(base)
	id := apiStartRun(srv, "firehose", nil)
	br.navigate(base + "/runs/" + id)
	br.waitFor("the log viewer live", 60*time.Second, `window.fastflow && window.fastflow.state() === "live"`)
	live := time.Now()
	b.ResetTimer()

	// heap forces a garbage collection in the page and returns its
	// JavaScript heap and the heap of its DOM (Blink's), in MB.
	heap := func() (js, dom float64) {
		b.Helper()
		ctx, cancel := context.WithTimeout(br.ctx, time.Minute)
		defer cancel()
		if _, err := chromedp.Call(ctx, heapprofiler.CollectGarbage, cdp.Empty{}); err != nil {
			b.Fatalf("collect garbage: %v", err)
		}
		u, err := chromedp.Call(ctx, cdpruntime.GetHeapUsage, cdp.Empty{})
		if err != nil {
			b.Fatalf("heap usage: %v", err)
		}
		return u.UsedSize / (1 << 20), u.EmbedderHeapUsedSize / (1 << 20)
	}
	// check samples the page every few seconds until the run ends or
	// until: the cap holds.
	check := func(until time.Time) {
		b.Helper()
		for time.Now().Before(until) {
			count := evalJS[int](br, "window.fastflow.logLineCount()")
			if count > 2000 {
				b.Fatalf("the page holds %d lines, over 2000", count)
			}
			if status.RunStatus(evalJS[string](br, runStatusJS)).Final() {
				return
			}
			time.Sleep(5 * time.Second)
		}
	}
	check(live.Add(time.Minute))
	first, firstDOM := heap()
	b.Logf("after %v live: JS heap %.2f MB, DOM heap %.2f MB, last line %d, %d lines in the page",
		time.Since(live).Round(time.Second), first, firstDOM,
		evalJS[int](br, "window.fastflow.lastLogN()"), evalJS[int](br, "window.fastflow.logLineCount()"))
	check(live.Add(time.Duration(minutes*float64(time.Minute)) + 5*time.Minute))
	br.waitRunStatus("SUCCESS", time.Minute)
	end, endDOM := heap()
	b.StopTimer()
	last := evalJS[int](br, "window.fastflow.lastLogN()")
	if last != total {
		b.Errorf("the last line in the page is %d, want %d", last, total)
	}
	ratio := end / first
	b.ReportMetric(first, "heap-1min-MB")
	b.ReportMetric(end, "heap-end-MB")
	b.ReportMetric(ratio, "heap-growth-x")
	b.ReportMetric(firstDOM, "dom-heap-1min-MB")
	b.ReportMetric(endDOM, "dom-heap-end-MB")
	b.Logf("after %v live, the run ended: JS heap %.2f MB (%.2fx minute 1), DOM heap %.2f MB (%.2fx), %d lines in %.1f min",
		time.Since(live).Round(time.Second), end, ratio, endDOM, endDOM/firstDOM, last, minutes)
}
