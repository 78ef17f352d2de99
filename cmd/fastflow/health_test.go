package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/status/sqlstore"
	"github.com/fastflow-dev/fastflow/webui"
)

// liveOnlyOperator is an operator for a server that is only asked
// /healthz, which consults nothing: any other call panics, so a liveness
// answer that came to depend on the operator would show here.
type liveOnlyOperator struct{ webui.Operator }

// realServer serves the real web UI handler over a migrated SQLite store.
func realServer(t *testing.T) *httptest.Server {
	t.Helper()
	store, err := sqlstore.Open(t.Context(), sqlstore.Config{DataDir: t.TempDir(), CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv, err := webui.New(webui.Config{Operator: liveOnlyOperator{}, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// fakeServer answers every request with h.
func fakeServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// refusedURL is a loopback address nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// TestHealthCommand: `fastflow health` exits 0 and prints ok only when
// /healthz answers 200 {"status": "ok"}; any other answer, or none within
// --timeout, exits 1 saying why; a command line it cannot read exits 2
// with its usage.
func TestHealthCommand(t *testing.T) {
	t.Parallel()
	real := realServer(t)
	_, realPort, err := net.SplitHostPort(strings.TrimPrefix(real.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		target   func(t *testing.T) string // the server; "" leaves --url out
		args     []string
		environ  []string
		wantCode int
		want     string // on stdout for 0, on stderr otherwise
	}{
		{name: "the real server", target: func(*testing.T) string { return real.URL }, want: "ok\n"},
		{name: "a trailing slash", target: func(*testing.T) string { return real.URL + "/" }, want: "ok\n"},
		{name: "LISTEN_ADDR :PORT is the default target", environ: []string{"LISTEN_ADDR=:" + realPort}, want: "ok\n"},
		{name: "LISTEN_ADDR 0.0.0.0:PORT", environ: []string{"LISTEN_ADDR=0.0.0.0:" + realPort}, want: "ok\n"},
		{name: "--url wins over LISTEN_ADDR", target: func(*testing.T) string { return real.URL },
			environ: []string{"LISTEN_ADDR=127.0.0.1:1"}, want: "ok\n"},
		{name: "503", wantCode: 1, want: "503",
			target: func(t *testing.T) string {
				return fakeServer(t, func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, `{"status":"ok"}`)
				}).URL
			}},
		{name: "a body that is not JSON", wantCode: 1, want: "not JSON",
			target: func(t *testing.T) string {
				return fakeServer(t, func(w http.ResponseWriter, _ *http.Request) {
					_, _ = io.WriteString(w, "<html>a captive portal</html>")
				}).URL
			}},
		{name: "JSON that is not ok", wantCode: 1, want: `"starting"`,
			target: func(t *testing.T) string {
				return fakeServer(t, func(w http.ResponseWriter, _ *http.Request) {
					_, _ = io.WriteString(w, `{"status":"starting"}`)
				}).URL
			}},
		{name: "another path than /healthz", wantCode: 1, want: "404",
			target: func(t *testing.T) string { return real.URL + "/nothing-here" }},
		{name: "a refused port", target: refusedURL, wantCode: 1, want: "unhealthy"},
		{name: "LISTEN_ADDR of a refused port", wantCode: 1, want: "unhealthy",
			environ: []string{"LISTEN_ADDR=" + strings.TrimPrefix(refusedURL(t), "http://")}},
		{name: "a server that hangs past --timeout", args: []string{"--timeout", "200ms"}, wantCode: 1, want: "no answer within 200ms",
			target: func(t *testing.T) string {
				return fakeServer(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }).URL
			}},
		{name: "a server that hangs in the body", args: []string{"--timeout=200ms"}, wantCode: 1, want: "no answer within 200ms",
			target: func(t *testing.T) string {
				return fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, `{"status":`)
					http.NewResponseController(w).Flush()
					<-r.Context().Done()
				}).URL
			}},
		{name: "a bad --timeout", args: []string{"--timeout", "soon"}, wantCode: 2, want: "Usage: fastflow health"},
		{name: "a zero --timeout", args: []string{"--timeout=0s"}, wantCode: 2, want: "not a positive duration"},
		{name: "a negative --timeout", args: []string{"--timeout", "-1s"}, wantCode: 2, want: "not a positive duration"},
		{name: "--timeout without a value", args: []string{"--timeout"}, wantCode: 2, want: "--timeout needs a value"},
		{name: "an operand", args: []string{"http://example.com"}, wantCode: 2, want: "unknown argument"},
		{name: "a --url that is no URL", args: []string{"--url", "http://[::1"}, wantCode: 2, want: "Usage: fastflow health"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"health"}
			if tt.target != nil {
				args = append(args, "--url", tt.target(t))
			}
			args = append(args, tt.args...)
			r := fastflow(t, tt.environ, "", args...)
			if r.code != tt.wantCode {
				t.Fatalf("%q: exit %d (%v), want %d\nstdout: %s\nstderr: %s", args, r.code, r.err, tt.wantCode, r.stdout, r.stderr)
			}
			got := r.stdout
			if tt.wantCode != 0 {
				got = r.stderr
				if r.stdout != "" {
					t.Errorf("an unhealthy answer printed %q on stdout", r.stdout)
				}
			}
			if tt.wantCode == 0 && got != tt.want || !strings.Contains(got, tt.want) {
				t.Errorf("%q said %q, want %q", args, got, tt.want)
			}
		})
	}
}

func TestLocalURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ listen, want string }{
		{":8080", "http://127.0.0.1:8080"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:8080", "http://[::1]:8080"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"fastflow.internal:80", "http://fastflow.internal:80"},
	}
	for _, tt := range tests {
		if got := localURL(tt.listen); got != tt.want {
			t.Errorf("localURL(%q) = %q, want %q", tt.listen, got, tt.want)
		}
	}
}
