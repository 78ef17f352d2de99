package webui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// apiWorkerImage is the local worker image `make test` builds.
const apiWorkerImage = dockertest.WorkerImage

// requireAPIWorker skips without Docker or the worker image on a developer
// machine and fails under CI, where `make test` must have built both.
func requireAPIWorker(t testing.TB) *docker.Client {
	t.Helper()
	return dockertest.RequireImage(t, apiWorkerImage)
}

// apiEnv is the whole server over HTTP: a real repository, SQLite, an
// operator (on Docker, or on a daemon that does not exist), the auth
// middleware, and a bearer token of user alice.
type apiEnv struct {
	t      testing.TB
	remote *gittest.Remote
	op     *operator.Operator
	store  status.Store
	srv    *Server
	http   *httptest.Server
	token  string
	// uvCache is the host directory of the runs' uv cache.
	uvCache string
}

type apiEnvOptions struct {
	// docker runs pipelines for real; without it the runtime is a socket
	// nobody listens on, which is enough for everything before a run.
	docker bool
	files  map[string]string
	opCfg  func(*operator.Config)
	// srvCfg adjusts the server's configuration; it sees the store.
	srvCfg func(*Config)
}

func newAPIEnv(t testing.TB, o apiEnvOptions) *apiEnv {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	uvCache := filepath.Join(data, "uv-cache")
	// The runtime finds the code of a run in the syncer's revisions and the
	// uv cache by name; without Docker it is a socket nobody listens on.
	dcfg := docker.Config{
		RevisionsDir: filepath.Join(data, "revisions"),
		CacheDirs:    map[string]string{runtime.CacheUV: uvCache},
	}
	if o.docker {
		requireAPIWorker(t)
	} else {
		dcfg.Host = "unix://" + filepath.Join(data, "no-docker.sock")
	}
	remote := gittest.New(t)
	files := o.files
	if files == nil {
		files = map[string]string{"hello/main.py": "print('hello')\n"}
	}
	remote.Commit("pipelines", files)

	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	syncer, err := repo.NewSyncer(repo.Config{URL: remote.Dir, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		t.Fatal(err)
	}
	dcfg.RevisionsDir = syncer.RevisionsDir()
	rt, err := docker.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	wheels, err := filepath.Abs("../examples/worker-image/testdata/wheels")
	if err != nil {
		t.Fatal(err)
	}
	cfg := operator.Config{
		WorkerImage:       apiWorkerImage,
		LogsDir:           filepath.Join(data, "logs"),
		MaxConcurrentRuns: 10,
		WorkerNetwork:     "none",
		WorkerEnv:         map[string]string{"UV_FIND_LINKS": "/wheels"},
		WorkerMounts:      []runtime.Mount{{Source: wheels, Target: "/wheels", ReadOnly: true}},
		StopGrace:         2 * time.Second,
		// Unique per test: reconciliation removes the instance's containers
		// it does not know, so two tests must never share one.
		Instance:       "test-webui-" + filepath.Base(filepath.Dir(data)) + "-" + filepath.Base(data),
		ShutdownPolicy: operator.ShutdownStop,
		Replica:        operator.ReplicaConfig{ID: "replica-1", Host: "host-1", Version: "test"},
	}
	var logger *slog.Logger
	if os.Getenv("FASTFLOW_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.Logger = logger
	}
	if o.docker {
		// As in production: the operator measures the cache the runs use.
		cfg.UVCache.Dir = uvCache
	}
	if o.opCfg != nil {
		o.opCfg(&cfg)
	}
	op, err := operator.New(cfg, syncer, store, rt)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- op.Run(runCtx) }()

	scfg := Config{Operator: op, Store: store, Logger: logger}
	if o.srvCfg != nil {
		o.srvCfg(&scfg)
	}
	srv, err := New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("operator Run: %v", err)
		}
		store.Close()
	})
	select {
	case <-op.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("operator not ready after 60 s")
	}

	token := addAPIToken(t, store)
	return &apiEnv{t: t, remote: remote, op: op, store: store, srv: srv, http: hs, token: token, uvCache: uvCache}
}

// addAPIToken creates user alice and a bearer token of hers.
func addAPIToken(t testing.TB, store status.Store) string {
	t.Helper()
	ctx := context.Background()
	u, err := store.CreateUser(ctx, "alice", "not-a-real-hash")
	if err != nil {
		t.Fatal(err)
	}
	token, hash, err := credentials.NewToken(credentials.APITokenPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateAPIToken(ctx, status.APIToken{Hash: hash, Name: "api-test", UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	return token
}

// request sends an authenticated request; body may be nil, a string or a
// value to encode as JSON.
func (e *apiEnv) request(ctx context.Context, method, path string, body any, hdr map[string]string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (e *apiEnv) do(method, path string, body, out any) (int, []byte) {
	e.t.Helper()
	resp := e.request(context.Background(), method, path, body, nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, b
}

// waitRun polls GET /api/runs/{id} until the run is final.
func (e *apiEnv) waitRun(id string, within time.Duration) runJSON {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var r runJSON
		code, body := e.do("GET", "/api/runs/"+id, nil, &r)
		if code != http.StatusOK {
			e.t.Fatalf("GET run %s: %d %s", id, code, body)
		}
		if r.Status.Final() {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s still %s after %s", id, r.Status, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	ID   string
	Name string
	Data string
}

// readSSE parses events from r and hands each to yield until yield returns
// false or the stream ends. Comments (": ping") and retry fields are not
// events.
func readSSE(r io.Reader, yield func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev sseEvent
	var data []string
	has := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				ev.Data = strings.Join(data, "\n")
				if !yield(ev) {
					return nil
				}
			}
			ev, data, has = sseEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, has = value, true
		case "event":
			ev.Name, has = value, true
		case "data":
			data, has = append(data, value), true
		}
	}
	return sc.Err()
}

// apiError decodes an error answer.
func decodeAPIError(t testing.TB, b []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Fatalf("answer %q is not a JSON error: %v", b, err)
	}
	return e
}
