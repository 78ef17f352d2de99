package main

// The harness of the web UI's end-to-end tests: a real Chromium driven by
// chromedp against a real `fastflow serve` (startServer), screenshots of
// every test's last state, and a TCP proxy that can cut every connection
// it carries.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/status"
)

const (
	// browserStepTimeout bounds one browser step (a navigation, a click,
	// one evaluation): a hung page fails the test instead of hanging it.
	browserStepTimeout = 30 * time.Second
	// browserStartTimeout bounds starting Chromium and opening a tab.
	browserStartTimeout = 60 * time.Second
	// desktopWidth and desktopHeight are the window of every test browser.
	desktopWidth, desktopHeight = 1280, 900
)

// chromiumNames are the browsers the tests look for, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// requireChromium returns the path of the first browser of chromiumNames on
// PATH. Without one it skips the test on a developer machine and fails it
// under CI=true, where a green run must mean the browser tests ran.
func requireChromium(t testing.TB) string {
	t.Helper()
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Require(t, "Chromium", errors.New("no browser on PATH (looked for "+strings.Join(chromiumNames, ", ")+
		"; run scripts/test-env.sh as root on Debian to install Debian's chromium)"))
	return ""
}

// artifactsDir is where screenshots go: $FASTFLOW_ARTIFACTS_DIR, else
// fastflow-artifacts in the system's temporary directory.
func artifactsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FASTFLOW_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "fastflow-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	return dir
}

// fileStem makes a test name usable as a file name.
func fileStem(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// tailBuffer keeps the last bytes written to it (the browser's output).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailBufferMax = 16 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailBufferMax {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-tailBufferMax:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// browser is one tab of a test's Chromium.
type browser struct {
	t    testing.TB
	ctx  context.Context
	name string // the screenshot's file name without .png
	out  *tailBuffer

	mu      sync.Mutex
	console []string // the last console messages and uncaught exceptions
	// pageErrors are exceptions (uncaught, or caught and reported by
	// app.js) and Content-Security-Policy refusals: a page that throws, or
	// that the policy had to stop, fails its test even when what the test
	// looked at came out right.
	pageErrors []string
}

const consoleKeep = 200

// newBrowser starts a headless Chromium for the test (one allocator per
// test) and returns its first tab. The browser ends with the test; before
// it does, a full-page screenshot of the tab's last state is saved (also
// when the test failed) and its path logged. On failure the page's console
// messages and the tail of Chromium's output are logged too.
//
// Start the server before the browser: cleanups run in reverse, so the
// browser (and the streams it holds open) goes before the server stops.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	exe := requireChromium(t)
	out := &tailBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		// Tests talk to loopback only, whatever proxy the environment names.
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(desktopWidth, desktopHeight),
		chromedp.CombinedOutput(out),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first Run starts the browser and binds it to ctx, so it gets no
	// deadline of its own; the select bounds it instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start %s: %v\n%s", exe, err, out.String())
		}
	case <-time.After(browserStartTimeout):
		acancel()
		t.Fatalf("start %s: no tab after %v\n%s", exe, browserStartTimeout, out.String())
	}
	b := &browser{t: t, ctx: ctx, name: fileStem(t.Name()), out: out}
	b.watchConsole()
	t.Cleanup(b.finish)
	return b
}

// freshContext opens a tab in a new browser context of the same browser:
// no cookies, no storage, as a second person at another machine.
func (b *browser) freshContext(suffix string) *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			b.t.Fatalf("open a tab in a new browser context: %v", err)
		}
	case <-time.After(browserStartTimeout):
		cancel()
		b.t.Fatalf("open a tab in a new browser context: nothing after %v", browserStartTimeout)
	}
	nb := &browser{t: b.t, ctx: ctx, name: b.name + "-" + fileStem(suffix), out: b.out}
	nb.watchConsole()
	b.t.Cleanup(nb.finish)
	return nb
}

// watchConsole keeps the tab's last console messages for a failure report.
func (b *browser) watchConsole() {
	msgs := chromedp.Console(b.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			if len(b.console) == consoleKeep {
				b.console = append(b.console[:0], b.console[1:]...)
			}
			if s := strings.TrimSpace(m.String()); s != "" {
				b.console = append(b.console, s)
			}
			// app.js reports a feature that threw at start-up as
			// "fastflow: <feature>: …" and carries on without it.
			caught := m.Type == chromedp.ConsoleError && strings.HasPrefix(m.Text, "fastflow:")
			if m.IsException() || caught || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				b.pageErrors = append(b.pageErrors, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line+1))
			}
			b.mu.Unlock()
		}
	}()
}

// finish saves the screenshot and, when the test failed, reports what the
// page and the browser said.
func (b *browser) finish() {
	b.screenshot(b.name)
	b.mu.Lock()
	pageErrors := slices.Clone(b.pageErrors)
	b.mu.Unlock()
	if len(pageErrors) > 0 {
		b.t.Errorf("the page of %s reported errors:\n%s", b.name, strings.Join(pageErrors, "\n"))
	}
	if !b.t.Failed() {
		return
	}
	b.mu.Lock()
	console := strings.Join(b.console, "\n")
	b.mu.Unlock()
	if console != "" {
		b.t.Logf("console of %s:\n%s", b.name, console)
	}
	if out := chromiumOutput(b.out.String()); out != "" && b.name == fileStem(b.t.Name()) {
		b.t.Logf("chromium output (tail):\n%s", out)
	}
}

// chromiumOutput is the tail of what Chromium printed, without the noise
// of a machine with no D-Bus.
func chromiumOutput(out string) string {
	var keep []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "dbus") || strings.Contains(line, "unexpected operator") || strings.TrimSpace(line) == "" {
			continue
		}
		keep = append(keep, strings.TrimRight(line, "\n"))
	}
	if len(keep) > 40 {
		keep = keep[len(keep)-40:]
	}
	return strings.Join(keep, "\n")
}

// screenshot saves a full-page PNG of the tab as name.png in the artifacts
// directory and logs where.
func (b *browser) screenshot(name string) string {
	path := filepath.Join(artifactsDir(b.t), fileStem(name)+".png")
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", path, err)
		return ""
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", path, err)
		return ""
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// do runs steps with a deadline and fails the test on an error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (at %s)", what, err, b.where())
	}
}

// runAction runs one action with a deadline and returns its value.
func runAction[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v (at %s)", what, err, b.where())
	}
	return v
}

// tryEvalJS evaluates a JavaScript expression (awaiting a promise) within
// timeout.
func tryEvalJS[T any](b *browser, timeout time.Duration, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// evalJS evaluates a JavaScript expression and fails the test on an error.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := tryEvalJS[T](b, browserStepTimeout, expr)
	if err != nil {
		b.t.Fatalf("evaluate %s: %v (at %s)", expr, err, b.where())
	}
	return v
}

// where is the tab's address, for failure messages.
func (b *browser) where() string {
	loc, err := tryEvalJS[string](b, 2*time.Second, "location.href")
	if err != nil {
		return "<unknown page: " + err.Error() + ">"
	}
	return loc
}

// path is the tab's path and query.
func (b *browser) path() string {
	b.t.Helper()
	return evalJS[string](b, "location.pathname + location.search")
}

// pageText is the visible text of the page, cut to a readable length.
func (b *browser) pageText() string {
	s, err := tryEvalJS[string](b, 5*time.Second, "document.body ? document.body.innerText : ''")
	if err != nil {
		return "<" + err.Error() + ">"
	}
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

// navigate loads url and waits for the load event.
func (b *browser) navigate(url string) {
	b.t.Helper()
	b.do("navigate to "+url, chromedp.Navigate(url))
}

// waitFor polls the JavaScript expression until it is truthy; evaluation
// errors (a page between two documents, an element not there yet) count
// as not yet. It fails the test after timeout, naming what it waited for.
func (b *browser) waitFor(what string, timeout time.Duration, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := tryEvalJS[bool](b, 5*time.Second, "!!("+expr+")")
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %v for %s; last error: %v\nat %s, page text:\n%s", timeout, what, err, b.where(), b.pageText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// typeInto empties the field (telling the page, as a user's edit would)
// and types text into it key by key.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	if !evalJS[bool](b, `(() => { const f = document.querySelector(`+jsString(css)+`); if (!f) return false;
		f.value = ""; f.dispatchEvent(new Event("input", {bubbles: true})); return true })()`) {
		b.t.Fatalf("no field %s at %s", css, b.where())
	}
	if text != "" {
		b.do("type into "+css, chromedp.SendKeys(chromedp.CSS(css), text))
	}
}

// clickAndLoad clicks the element and waits for the page it leads to.
func (b *browser) clickAndLoad(what, css string) {
	b.t.Helper()
	runAction(b, what, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(css))))
}

// loginForm is the login page's form (CONTRACT: posts to /auth/login).
const loginForm = `form[action="/auth/login"]`

// submitLogin types the credentials into the login form on the page and
// submits it, waiting for the page that answers.
func (b *browser) submitLogin(user, password string) {
	b.t.Helper()
	b.do("wait for the login form", chromedp.WaitVisible(chromedp.CSS(loginForm+` input[name=username]`)))
	b.typeInto(loginForm+` input[name=username]`, user)
	b.typeInto(loginForm+` input[name=password]`, password)
	b.clickAndLoad("submit the login form", loginForm+` button`)
}

// login logs the tab in as user ci of startServer and waits for the
// dashboard.
func (b *browser) login(base string) {
	b.t.Helper()
	b.navigate(base + "/login")
	b.submitLogin("ci", "s3cret-password")
	b.waitFor("the dashboard after logging in", browserStepTimeout, `location.pathname === "/" && document.querySelector("#pipelines")`)
}

// dialogs accepts every JavaScript dialog (confirm, alert) the tab opens
// from now on, and records their messages.
type dialogs struct {
	mu       sync.Mutex
	messages []string
}

func (d *dialogs) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.messages...)
}

func (b *browser) acceptDialogs() *dialogs {
	d := &dialogs{}
	events := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.messages = append(d.messages, ev.Message)
			d.mu.Unlock()
			ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			cancel()
		}
	}()
	return d
}

// ---------------------------------------------------------------- the server

// serverURL is the base URL of the test server.
func serverURL(s *testServer) string { return "http://" + s.addr }

// apiToken is the API token of user ci that startServer made.
func apiToken(s *testServer) string {
	for _, kv := range s.client {
		if v, ok := strings.CutPrefix(kv, "FASTFLOW_TOKEN="); ok {
			return v
		}
	}
	s.t.Fatal("startServer made no token")
	return ""
}

// apiDo sends a JSON request with ci's token and decodes the answer into
// out (when not nil); it returns the status code.
func apiDo(s *testServer, method, path string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, serverURL(s)+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken(s))
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: browserStepTimeout}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// apiRunInfo is the part of GET /api/runs/{id} the tests read.
type apiRunInfo struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	ExitCode   *int       `json:"exit_code"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// apiStartRun starts a run of pipeline through the API and returns its id.
func apiStartRun(s *testServer, pipeline string, params map[string]any) string {
	s.t.Helper()
	var run apiRunInfo
	body := map[string]any{}
	if params != nil {
		body["parameters"] = params
	}
	if code := apiDo(s, "POST", "/api/pipelines/"+pipeline+"/run", body, &run); code != http.StatusCreated {
		s.t.Fatalf("start a run of %s: HTTP %d", pipeline, code)
	}
	return run.ID
}

// apiRun reads a run.
func apiRun(s *testServer, id string) apiRunInfo {
	s.t.Helper()
	var run apiRunInfo
	if code := apiDo(s, "GET", "/api/runs/"+id, nil, &run); code != http.StatusOK {
		s.t.Fatalf("get run %s: HTTP %d", id, code)
	}
	return run
}

// apiWaitRun waits until the run ends and returns it.
func apiWaitRun(s *testServer, id string, timeout time.Duration) apiRunInfo {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		run := apiRun(s, id)
		if status.RunStatus(run.Status).Final() {
			return run
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s still %s after %v", id, run.Status, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ------------------------------------------------------------ the TCP proxy

// tcpProxy forwards TCP connections to a target and can cut every
// connection it carries at once, while it keeps accepting new ones: a
// network blip between the browser and the server.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	closed   bool
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// addr is the proxy's listen address.
func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// connections is how many connections the proxy accepted so far.
func (p *tcpProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.accepted++
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// cut resets every open connection, both sides, and returns how many
// client connections it cut. New connections keep working.
func (p *tcpProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a polite close
		}
		c.Close()
		n++
	}
	return n / 2
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.cut()
}
