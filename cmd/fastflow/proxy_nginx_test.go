package main

// Fast-Flow behind Debian's nginx with deploy/nginx/fastflow.conf, as
// docs/deploy.md tells a team to run it: the shipped file itself, with only
// its ports and certificate paths swapped, in front of a real `fastflow
// serve`, reached over https with a certificate the test makes.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/webui"
)

// nginxBin is where Debian's nginx package puts the server.
const nginxBin = "/usr/sbin/nginx"

// shippedNginxConf is the file docs/deploy.md tells users to copy.
var shippedNginxConf = filepath.Join("..", "..", "deploy", "nginx", "fastflow.conf")

// requireNginx skips the test without Debian's nginx (fails under CI=true).
func requireNginx(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(nginxBin); err != nil {
		testenv.Require(t, "nginx", fmt.Errorf("%w (run scripts/test-env.sh as root on Debian to install Debian's nginx)", err))
	}
	return nginxBin
}

// testCert is a self-signed certificate for 127.0.0.1 and localhost.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

func newTestCert(t testing.TB) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "fastflow.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"fastflow.example.com", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := testCert{certFile: filepath.Join(dir, "fullchain.pem"), keyFile: filepath.Join(dir, "privkey.pem"), pool: x509.NewCertPool()}
	c.pool.AddCert(cert)
	if err := os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// httpsClient trusts the test certificate only, speaks HTTP/2 as browsers
// do, and does not follow redirects, so each answer is seen as it is.
func (c testCert) httpsClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: c.pool},
			ForceAttemptHTTP2: true,
			// Tests talk to loopback only, whatever proxy the environment names.
			Proxy: nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// freeLoopbackPort asks the kernel for a loopback port nobody listens on.
func freeLoopbackPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// nginxProxy is a running nginx of the test's own.
type nginxProxy struct {
	https, http string // base URLs
	dir         string
}

// substitute replaces each old string of the shipped file, which must occur
// exactly once: if the file changes so that a swap no longer fits, the test
// says so instead of quietly testing something else.
func substitute(t testing.TB, text string, swaps [][2]string) string {
	t.Helper()
	for _, s := range swaps {
		if n := strings.Count(text, s[0]); n != 1 {
			t.Fatalf("%s: %q occurs %d times, the test swaps it once; update the test with the file", shippedNginxConf, s[0], n)
		}
		text = strings.Replace(text, s[0], s[1], 1)
	}
	return text
}

// startNginx runs nginx with the shipped configuration in front of
// upstream (host:port), on free loopback ports, with its pid file, logs and
// temporary files in a folder of its own. It is stopped, all its processes,
// when t ends.
func startNginx(t testing.TB, bin string, cert testCert, upstream string) *nginxProxy {
	t.Helper()
	shipped, err := os.ReadFile(shippedNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	httpsPort, httpPort := freeLoopbackPort(t), freeLoopbackPort(t)
	site := substitute(t, string(shipped), [][2]string{
		{"server 127.0.0.1:8080;", "server " + upstream + ";"},
		{"    listen 80;\n", "    listen 127.0.0.1:" + httpPort + ";\n"},
		{"    listen [::]:80;\n", ""},
		{"    listen 443 ssl http2;\n", "    listen 127.0.0.1:" + httpsPort + " ssl http2;\n"},
		{"    listen [::]:443 ssl http2;\n", ""},
		{"/etc/ssl/fastflow/fullchain.pem", cert.certFile},
		{"/etc/ssl/fastflow/privkey.pem", cert.keyFile},
		// The redirect keeps the test's https port; on 443 there is none.
		{"https://$host$request_uri", "https://$host:" + httpsPort + "$request_uri"},
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fastflow.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	// The main configuration is what Debian's nginx.conf would be around
	// conf.d/fastflow.conf, with every path inside dir.
	user := ""
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot enter the test's
		// private temporary folder to write request bodies.
		user = "user root;\n"
	}
	mainConf := user + `worker_processes 1;
pid ` + dir + `/nginx.pid;
error_log ` + dir + `/error.log info;
events { worker_connections 256; }
http {
    access_log ` + dir + `/access.log;
    client_body_temp_path ` + dir + `/body;
    proxy_temp_path ` + dir + `/proxy;
    fastcgi_temp_path ` + dir + `/fastcgi;
    uwsgi_temp_path ` + dir + `/uwsgi;
    scgi_temp_path ` + dir + `/scgi;
    include ` + dir + `/fastflow.conf;
}
`
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(mainConf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")}
	if out, err := exec.Command(bin, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\nthe configuration under test:\n%s", err, out, site)
	}
	cmd := exec.Command(bin, append(args, "-g", "daemon off;")...)
	// Its own process group, so the workers go with the master even if the
	// master does not take them along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown: the master stops its workers
		// and exits.
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("nginx did not stop within 10 s of SIGTERM; killing its process group")
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		// A worker the master lost would still be in the group.
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err == nil {
			t.Errorf("nginx processes were left after the master exited; killed them")
		}
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), tail(string(errLog), 40))
		}
	})
	p := &nginxProxy{https: "https://127.0.0.1:" + httpsPort, http: "http://127.0.0.1:" + httpPort, dir: dir}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+httpsPort, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited at start: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on 127.0.0.1:%s after 15 s\n%s", httpsPort, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// postLogin sends a JSON login with the browser's Origin header (which
// Fast-Flow's cross-origin check compares with the Host nginx passes on)
// and, when not empty, an X-Forwarded-For of the test's choosing.
func postLogin(t testing.TB, c *http.Client, base, user, password, forwardedFor string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequest("POST", base+"/auth/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s/auth/login: %v", base, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// loginCodes sends a wrong password once per X-Forwarded-For value and
// returns the answers' status codes.
func loginCodes(t testing.TB, c *http.Client, base, user string, forwardedFor []string) []int {
	t.Helper()
	var codes []int
	for _, xff := range forwardedFor {
		codes = append(codes, postLogin(t, c, base, user, "not-the-password", xff).StatusCode)
	}
	return codes
}

func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == webui.SessionCookie {
			return c
		}
	}
	return nil
}

// sseArrival is one log line of an event stream and when it arrived.
type sseArrival struct {
	line logs.Line
	at   time.Time
}

// followLogStream reads the run's live log over the proxy until its end
// event and sends each line as it arrives.
func followLogStream(ctx context.Context, c *http.Client, base, token, id string, lines chan<- sseArrival) error {
	defer close(lines)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/runs/"+id+"/logs/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("open the log stream: %w", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("log stream: HTTP %d, Content-Type %q", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if event == "end" {
				return nil
			}
			var l logs.Line
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &l); err == nil {
				lines <- sseArrival{line: l, at: time.Now()}
			}
		case line == "":
			event = ""
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the log stream: %w", err)
	}
	return errors.New("the log stream ended without an end event")
}

// signedDelivery posts a webhook delivery signed with secret through the
// proxy and returns the status code and the answer's status field.
func signedDelivery(t testing.TB, c *http.Client, base, secret, event, id string, body []byte) (int, string) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequest("POST", base+"/hooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST /hooks/github (%s): %v", id, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &answer)
	return resp.StatusCode, answer.Status + answer.Error
}

// Chromium abandons a page load with ERR_NETWORK_CHANGED when the
// machine's network interfaces change, which Docker does whenever a
// container of another test (a Compose stack, a private dockerd) starts or
// stops. That says nothing about the proxy, so the two helpers below try
// again, a few times, when it happens.

const steadyAttempts = 5

// onErrorPage reports whether the tab shows Chromium's own error page.
func onErrorPage(b *browser) bool {
	loc, err := tryEvalJS[string](b, 5*time.Second, "location.href")
	return err == nil && strings.HasPrefix(loc, "chrome-error:")
}

// navigateSteady loads url, again when Chromium abandoned the load
// because the network changed.
func navigateSteady(b *browser, url string) {
	b.t.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		cancel()
		if err == nil && !onErrorPage(b) {
			return
		}
		changed := (err != nil && strings.Contains(err.Error(), "ERR_NETWORK_CHANGED")) ||
			(err == nil && strings.Contains(b.pageText(), "ERR_NETWORK_CHANGED"))
		if !changed || attempt == steadyAttempts {
			b.t.Fatalf("navigate to %s: %v\n%s", url, err, b.pageText())
		}
		b.t.Logf("navigate to %s: the network changed (attempt %d); again", url, attempt)
		time.Sleep(500 * time.Millisecond)
	}
}

// loginSteady logs the tab in as ci, like browser.login, logging in again
// when Chromium abandoned the form's answer because the network changed.
func loginSteady(b *browser, base string) {
	b.t.Helper()
	for attempt := 1; ; attempt++ {
		navigateSteady(b, base+"/login")
		b.submitLogin("ci", "s3cret-password")
		deadline := time.Now().Add(browserStepTimeout)
		for time.Now().Before(deadline) {
			ok, err := tryEvalJS[bool](b, 5*time.Second, `location.pathname === "/" && !!document.querySelector("#pipelines")`)
			if err == nil && ok {
				return
			}
			if onErrorPage(b) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !onErrorPage(b) || !strings.Contains(b.pageText(), "ERR_NETWORK_CHANGED") || attempt == steadyAttempts {
			b.t.Fatalf("no dashboard after logging in (attempt %d), at %s:\n%s", attempt, b.where(), b.pageText())
		}
		b.t.Logf("login: the network changed (attempt %d); again", attempt)
		time.Sleep(500 * time.Millisecond)
	}
}

// proxyWebhookSecret is GITHUB_WEBHOOK_SECRET of the proxied server.
const proxyWebhookSecret = "proxy-test-webhook-secret"

// TestNginxProxy runs Fast-Flow behind the shipped nginx configuration
// with TRUSTED_PROXIES=127.0.0.1 (nginx's address): plain HTTP redirects
// to https; a login over https gets a Secure, HttpOnly session cookie,
// from a Go client and in Chromium; a run's live log reaches the browser
// and an SSE client line by line while the run goes on (nothing is
// buffered on the way); a signed webhook of 2.5 MB (more than nginx's
// default body limit) is accepted and a forged one refused; and wrong
// passwords are limited per client X-Forwarded-For names.
func TestNginxProxy(t *testing.T) {
	bin := requireNginx(t)
	requireChromium(t)
	const ticks = 8
	srv := startServer(t, map[string]string{
		// The first sleep lets the page and the stream go live first;
		// then the lines come 0.7 s apart, so lines that arrive together
		// were held on the way.
		"ticker/main.py": fmt.Sprintf("import time\ntime.sleep(3)\nfor i in range(1, %d):\n"+
			"    print(f'tick {i}', flush=True)\n    time.sleep(0.7)\n", ticks+1),
	}, []string{"TRUSTED_PROXIES=127.0.0.1", "GITHUB_WEBHOOK_SECRET=" + proxyWebhookSecret}, nil)
	cert := newTestCert(t)
	proxy := startNginx(t, bin, cert, srv.addr)
	client := cert.httpsClient()
	base := proxy.https

	t.Run("plain HTTP redirects to https", func(t *testing.T) {
		resp, err := client.Get(proxy.http + "/runs?x=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := base + "/runs?x=1"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("GET %s/runs?x=1 = %d Location %q, want 301 to %s", proxy.http, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})

	t.Run("login over https sets a Secure cookie", func(t *testing.T) {
		resp := postLogin(t, client, base, "ci", "s3cret-password", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login through nginx = %d, want 200 (a 403 means the Origin check did not see the browser's Host)", resp.StatusCode)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("the login was answered over %s, want HTTP/2 from the shipped config", resp.Proto)
		}
		c := sessionCookieOf(resp)
		if c == nil || !c.Secure || !c.HttpOnly {
			t.Fatalf("session cookie %v: want Secure (X-Forwarded-Proto: https from a trusted proxy) and HttpOnly", c)
		}
		req, _ := http.NewRequest("GET", base+"/api/pipelines", nil)
		req.AddCookie(c)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /api/pipelines with the session cookie through nginx = %d, want 200", resp.StatusCode)
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("Strict-Transport-Security = %q, want the shipped config's max-age", hsts)
		}
	})

	t.Run("a live log reaches the browser and a stream client line by line", func(t *testing.T) {
		b := newBrowser(t)
		if _, err := chromedp.Call(b.ctx, security.SetIgnoreCertificateErrors,
			security.SetIgnoreCertificateErrorsParams{Ignore: true}); err != nil {
			t.Fatalf("let the browser accept the test certificate: %v", err)
		}
		loginSteady(b, base)
		cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		var browserCookie *network.Cookie
		for _, c := range cookies.Cookies {
			if c.Name == webui.SessionCookie {
				browserCookie = c
			}
		}
		if browserCookie == nil || !browserCookie.Secure || !browserCookie.HTTPOnly {
			t.Fatalf("the browser's session cookie is %+v, want Secure and HttpOnly", browserCookie)
		}

		// Started through the API rather than the page's button: a POST
		// that Chromium aborts (see loginSteady) cannot be retried without
		// perhaps starting two runs.
		id := apiStartRun(srv, "ticker", nil)
		navigateSteady(b, base+"/runs/"+id)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		arrivals := make(chan sseArrival, 64)
		streamDone := make(chan error, 1)
		connectedAt := time.Now()
		go func() { streamDone <- followLogStream(ctx, client, base, apiToken(srv), id, arrivals) }()
		var mu sync.Mutex
		var streamed []sseArrival
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			for a := range arrivals {
				mu.Lock()
				streamed = append(streamed, a)
				mu.Unlock()
			}
		}()

		// The browser: when each tick first shows, and whether the run
		// was still going then.
		seen := map[string]time.Time{}
		var firstWhileRunning bool
		deadline := time.Now().Add(90 * time.Second)
		for {
			type snapshot struct {
				Ticks  []string `json:"ticks"`
				Status string   `json:"status"`
			}
			s, err := tryEvalJS[snapshot](b, 5*time.Second, `({ticks: [...document.querySelectorAll("#log-lines .line .tx")]
				.map(l => l.textContent).filter(x => x.startsWith("tick ")), status: `+runStatusJS+`})`)
			now := time.Now()
			if err == nil {
				for _, tick := range s.Ticks {
					if _, ok := seen[tick]; !ok {
						seen[tick] = now
						if tick == "tick 1" {
							firstWhileRunning = !status.RunStatus(s.Status).Final()
						}
					}
				}
				if status.RunStatus(s.Status).Final() && len(s.Ticks) >= ticks {
					if s.Status != "SUCCESS" {
						t.Fatalf("run %s ended %s, want SUCCESS\n%s", id, s.Status, b.pageText())
					}
					break
				}
			}
			if now.After(deadline) {
				t.Fatalf("run %s: not ended with %d ticks on its page after 90 s (last %+v, %v)\n%s", id, ticks, s, err, b.pageText())
			}
			time.Sleep(40 * time.Millisecond)
		}
		run := apiRun(srv, id)
		if !firstWhileRunning || run.FinishedAt == nil || run.FinishedAt.Sub(seen["tick 1"]) < 3*time.Second {
			t.Errorf("tick 1 shown at %v (run still going: %v), run finished at %v: want it seconds before the end",
				seen["tick 1"], firstWhileRunning, run.FinishedAt)
		}
		// Lines printed 0.7 s apart must show apart; a proxy that buffers
		// would hand the page several at once.
		apart := 0
		for i := 2; i <= ticks; i++ {
			prev, cur := seen["tick "+strconv.Itoa(i-1)], seen["tick "+strconv.Itoa(i)]
			if prev.IsZero() || cur.IsZero() {
				t.Fatalf("the page never showed tick %d or %d: %v", i-1, i, seen)
			}
			if cur.Sub(prev) >= 300*time.Millisecond {
				apart++
			}
		}
		var gaps []string
		for i := 2; i <= ticks; i++ {
			gaps = append(gaps, seen["tick "+strconv.Itoa(i)].Sub(seen["tick "+strconv.Itoa(i-1)]).Round(10*time.Millisecond).String())
		}
		t.Logf("the browser showed the ticks (printed 700 ms apart) %s apart; tick 1 %v before the run ended",
			strings.Join(gaps, ", "), run.FinishedAt.Sub(seen["tick 1"]).Round(10*time.Millisecond))
		// One reconnect of the page's EventSource (see loginSteady) may
		// bring two lines together; buffering brings them all.
		if apart < ticks-3 {
			t.Errorf("only %d of %d consecutive ticks showed at least 300 ms apart in the browser (printed 700 ms apart): %v", apart, ticks-1, seen)
		}

		if err := <-streamDone; err != nil {
			t.Fatalf("the SSE client: %v", err)
		}
		<-collected
		mu.Lock()
		defer mu.Unlock()
		var got []string
		var slowest time.Duration
		for _, a := range streamed {
			if !strings.HasPrefix(a.line.Text, "tick ") {
				continue
			}
			got = append(got, a.line.Text)
			slowest = max(slowest, a.at.Sub(a.line.Time))
			// Each line arrives when it is written, not when a buffer
			// fills or the run ends.
			if a.line.Time.After(connectedAt) && a.at.Sub(a.line.Time) > time.Second {
				t.Errorf("%q written at %v reached the SSE client %v later", a.line.Text, a.line.Time.Format(time.StampMilli), a.at.Sub(a.line.Time))
			}
		}
		t.Logf("the SSE client got each tick at most %v after it was written", slowest.Round(time.Millisecond))
		var want []string
		for i := 1; i <= ticks; i++ {
			want = append(want, "tick "+strconv.Itoa(i))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the SSE client's lines (-want +got):\n%s", diff)
		}
	})

	t.Run("webhooks through the proxy", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "webui", "testdata", "webhooks", "push", "with-new-branch.payload.json"))
		if err != nil {
			t.Fatal(err)
		}
		var push map[string]any
		if err := json.Unmarshal(raw, &push); err != nil {
			t.Fatal(err)
		}
		push["ref"] = "refs/heads/main" // the branch the server follows
		body, err := json.Marshal(push)
		if err != nil {
			t.Fatal(err)
		}
		// Past nginx's default client_max_body_size of 1m, within
		// Fast-Flow's 10 MiB: the shipped limit must let it through.
		body = append(body, bytes.Repeat([]byte(" "), 5<<19)...)

		if code, st := signedDelivery(t, client, base, "not-the-secret", "push", "proxy-forged-1", body); code != http.StatusUnauthorized {
			t.Errorf("a forged delivery = %d %q, want 401", code, st)
		}
		if code, st := signedDelivery(t, client, base, proxyWebhookSecret, "push", "proxy-push-1", body); code != http.StatusAccepted || st != "accepted" {
			t.Errorf("a signed %d-byte push = %d %q, want 202 accepted", len(body), code, st)
		}
		ping, err := os.ReadFile(filepath.Join("..", "..", "webui", "testdata", "webhooks", "ping", "payload.json"))
		if err != nil {
			t.Fatal(err)
		}
		if code, st := signedDelivery(t, client, base, proxyWebhookSecret, "ping", "proxy-ping-1", ping); code != http.StatusOK || st != "ok" {
			t.Errorf("a signed ping = %d %q, want 200 ok", code, st)
		}
	})

	t.Run("trusted proxy: logins limited per forwarded client", func(t *testing.T) {
		// nginx appends its peer (127.0.0.1, trusted) to the header the
		// test sends, so the client is the address the test names.
		codes := loginCodes(t, client, base, "mallory", []string{
			"203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2"})
		want := []int{401, 401, 401, 401, 401, 429, 401}
		if diff := cmp.Diff(want, codes); diff != "" {
			t.Errorf("wrong passwords from 203.0.113.1 six times, then from 203.0.113.2 (-want +got):\n%s", diff)
		}
	})
}

// TestNginxProxyUntrusted: the same shipped configuration in front of a
// Fast-Flow without TRUSTED_PROXIES believes no forwarded header. Wrong
// passwords sent with six different X-Forwarded-For values all count as
// one client, nginx, and X-Forwarded-Proto: https does not mark the
// session cookie Secure (BASE_URL=https would).
func TestNginxProxyUntrusted(t *testing.T) {
	t.Parallel()
	bin := requireNginx(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{"hello/main.py": "print('hi')\n"})
	data := t.TempDir()
	cfg, err := configFrom(env{
		"DATA_DIR": data, "LOGS_DIR": filepath.Join(data, "logs"), "GIT_REPO_URL": remote.Dir,
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_PASSWORD": "correct-horse-battery", "UV_PRE_HEAT": "false",
		// No run starts here, so no engine is needed.
		"DOCKER_HOST": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	cert := newTestCert(t)
	proxy := startNginx(t, bin, cert, addr)
	client := cert.httpsClient()

	resp := postLogin(t, client, proxy.https, "admin", "correct-horse-battery", "203.0.113.50")
	if c := sessionCookieOf(resp); resp.StatusCode != http.StatusOK || c == nil || c.Secure {
		t.Errorf("login through an untrusted proxy = %d, cookie %v: want 200 and a cookie without Secure", resp.StatusCode, c)
	}
	codes := loginCodes(t, client, proxy.https, "mallory", []string{
		"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5", "203.0.113.6"})
	want := []int{401, 401, 401, 401, 401, 429}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("wrong passwords with six X-Forwarded-For values (-want +got):\n%s", diff)
	}
}

// TestConfigTrustedProxies: TRUSTED_PROXIES is read into prefixes, and a
// bad entry stops the start with an error naming it.
func TestConfigTrustedProxies(t *testing.T) {
	t.Parallel()
	c, err := configFrom(env{"TRUSTED_PROXIES": "127.0.0.1, 172.16.0.0/12,::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("::1/128")}
	if diff := cmp.Diff(want, c.TrustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("TrustedProxies (-want +got):\n%s", diff)
	}
	if c, err := configFrom(env{}); err != nil || len(c.TrustedProxies) != 0 {
		t.Errorf("unset TRUSTED_PROXIES = %v, %v; want none trusted", c.TrustedProxies, err)
	}
	_, err = configFrom(env{"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.300"})
	if err == nil || !strings.Contains(err.Error(), `TRUSTED_PROXIES: entry "10.0.0.300"`) {
		t.Errorf("a bad entry: %v, want an error naming TRUSTED_PROXIES and the entry", err)
	}
}
