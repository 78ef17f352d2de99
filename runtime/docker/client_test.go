package docker_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

func TestPingRealDaemon(t *testing.T) {
	t.Parallel()
	c := dockertest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// A versioned call after the ping proves the API version was negotiated:
	// without negotiation an older daemon (Debian's 20.10 speaks 1.41)
	// refuses the client's newer default version.
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v.Server == "" || v.API == "" {
		t.Fatalf("Version = %+v, want server and API versions", v)
	}
	t.Logf("docker %s at %s, API %s", v.Server, c.Host(), v.API)
}

// socketDir returns a short directory for unix sockets, whose paths are
// limited to about 100 bytes, which t.TempDir under a long test name can
// exceed.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ffdock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// serveUnix serves h on a fresh unix socket and returns the docker host URL.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	path := filepath.Join(socketDir(t), "d.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + path
}

// fakeDaemon answers the endpoints Client uses the way dockerd 20.10 does.
func fakeDaemon() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Ostype", "linux")
		_, _ = w.Write([]byte("OK"))
	})
	mux.HandleFunc("GET /v1.41/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}`))
	})
	return mux
}

// hungHost returns a docker host that accepts connections and never answers.
func hungHost(t *testing.T) string {
	t.Helper()
	block := make(chan struct{})
	host := serveUnix(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	// Registered after serveUnix's cleanup so it runs first: the server's
	// Close waits for this handler to return.
	t.Cleanup(func() { close(block) })
	return host
}

func TestPingFakeDaemon(t *testing.T) {
	t.Parallel()
	host := serveUnix(t, fakeDaemon())
	c, err := docker.New(docker.Config{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if want := (docker.Version{Server: "20.10.24", API: "1.41"}); v != want {
		t.Fatalf("Version = %+v, want %+v (negotiated down to the daemon's API)", v, want)
	}
}

func TestConfigHostWinsOverEnv(t *testing.T) {
	host := serveUnix(t, fakeDaemon())
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	c, err := docker.New(docker.Config{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Host(); got != host {
		t.Fatalf("Host() = %q, want %q", got, host)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestPingUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		host    func(t *testing.T) string
		timeout time.Duration
		// want is a cause that must stay visible through the wrapping.
		want error
	}{
		{
			name:    "no socket file",
			host:    func(t *testing.T) string { return "unix://" + filepath.Join(socketDir(t), "missing.sock") },
			timeout: 10 * time.Second,
		},
		{
			name: "file that is not a socket",
			host: func(t *testing.T) string {
				p := filepath.Join(socketDir(t), "plain")
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return "unix://" + p
			},
			timeout: 10 * time.Second,
		},
		{
			name: "closed tcp port",
			host: func(t *testing.T) string {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := l.Addr().String()
				_ = l.Close()
				return "tcp://" + addr
			},
			timeout: 10 * time.Second,
		},
		{
			name:    "daemon that never answers",
			host:    hungHost,
			timeout: 200 * time.Millisecond,
			want:    context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := docker.New(docker.Config{Host: tt.host(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			err = c.Ping(ctx)
			took := time.Since(start)
			if !errors.Is(err, docker.ErrDaemonUnreachable) {
				t.Fatalf("Ping = %v, want ErrDaemonUnreachable", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Ping = %v, want it to wrap %v", err, tt.want)
			}
			// A dead daemon must be reported at once, not after the
			// deadline, so /health stays fast while Docker is down.
			if limit := tt.timeout + time.Second; took > limit || (tt.want == nil && took > time.Second) {
				t.Errorf("Ping took %v", took)
			}
		})
	}
}

func TestPingAnsweredErrorsAreNotUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		host func(t *testing.T) string
		want error
	}{
		{
			name: "server that is not a docker daemon",
			host: func(t *testing.T) string {
				return serveUnix(t, http.NotFoundHandler())
			},
		},
		{
			name: "caller cancels",
			host: hungHost,
			want: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := docker.New(docker.Config{Host: tt.host(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			err = c.Ping(ctx)
			if err == nil {
				t.Fatal("Ping = nil, want an error")
			}
			if errors.Is(err, docker.ErrDaemonUnreachable) {
				t.Errorf("Ping = %v, want an error that is not ErrDaemonUnreachable", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Ping = %v, want it to wrap %v", err, tt.want)
			}
		})
	}
}
