package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

// testServer is a real `fastflow serve` on Docker with its CLI environment.
type testServer struct {
	t       testing.TB
	environ []string // the server's settings, for admin commands
	client  []string // FASTFLOW_URL and FASTFLOW_TOKEN of a user "ci"
	addr    string
}

// cli runs a fastflow command and returns stdout, stderr and the exit code.
func (s *testServer) cli(stdin string, env []string, args ...string) (string, string, int) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, env)
	code := 0
	var exit exitError
	if errors.As(err, &exit) {
		code = exit.code
	} else if err != nil {
		s.t.Fatalf("fastflow %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// startServer commits files to a new repository, prepares a user and a
// token with the admin commands, runs `before` (more admin commands), then
// serves and waits until the server admits runs.
func startServer(t testing.TB, files map[string]string, extra []string, before func(s *testServer)) *testServer {
	t.Helper()
	dockertest.RequireImage(t, dockertest.WorkerImage)
	remote := gittest.New(t)
	remote.Commit("pipelines", files)
	data := t.TempDir()
	s := &testServer{t: t}
	s.environ = append([]string{"DATA_DIR=" + data, "GIT_REPO_URL=" + remote.Dir, "WORKER_BASE_IMAGE=fastflow-worker:local",
		"WORKER_NETWORK=none", "LISTEN_ADDR=127.0.0.1:0", "ADMIN_PASSWORD=correct-horse-battery", "LOG_LEVEL=error",
		"UV_CACHE_DIR=" + filepath.Join(data, "uv"), "LOGS_DIR=" + filepath.Join(data, "logs")}, extra...)
	s.cli("s3cret-password\n", s.environ, "user", "add", "ci")
	token, _, _ := s.cli("", s.environ, "token", "create", "ci-token", "--user", "ci")
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, "ff_") {
		t.Fatalf("token create printed %q", token)
	}
	if before != nil {
		before(s)
	}
	e := env{}
	for _, kv := range s.environ {
		k, v, _ := strings.Cut(kv, "=")
		e[k] = v
	}
	cfg, err := configFrom(e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	select {
	case s.addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	s.client = []string{"FASTFLOW_URL=http://" + s.addr, "FASTFLOW_TOKEN=" + token}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// TestCLIAgainstServer drives the real server with the CLI as a user
// would: an API token from `fastflow token create`, then `fastflow run NAME
// --follow`, `runs`, and a wrong token.
func TestCLIAgainstServer(t *testing.T) {
	srv := startServer(t, map[string]string{
		"hello/main.py": "print('hello from the cli test')\n",
		"fails/main.py": "raise SystemExit('this one fails')\n",
	}, nil, nil)
	cli, client, addr := srv.cli, srv.client, srv.addr

	out, stderr, code := cli("", client, "run", "hello", "--follow")
	if code != 0 || !strings.Contains(out, "hello from the cli test") {
		t.Errorf("run hello --follow: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	out, stderr, code = cli("", client, "run", "fails", "--follow")
	if code != 1 || !strings.Contains(out, "this one fails") {
		t.Errorf("run fails --follow: exit %d (want 1), stdout %q, stderr %q", code, out, stderr)
	}
	out, _, code = cli("", client, "runs")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "SUCCESS") {
		t.Errorf("runs: exit %d\n%s", code, out)
	}
	var sink bytes.Buffer
	err := run(context.Background(), []string{"runs"}, nil, &sink, &sink, []string{"FASTFLOW_URL=http://" + addr, "FASTFLOW_TOKEN=ff_wrong"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("runs with a wrong token: %v, want a 401 error", err)
	}
}

// TestSecretsEndToEnd: a secret set with the CLI reaches the pipeline that
// names it and no other, is masked in its log (plain and base64), loses to
// run env and beats default_env; a pipeline naming a missing secret is
// refused with the name in the message.
func TestSecretsEndToEnd(t *testing.T) {
	key, _, _ := (&testServer{t: t}).cli("", nil, "keygen")
	printEnv := "import base64, os\nv = os.environ.get('API_TOKEN', '<unset>')\nprint('token:', v)\nprint('b64:', base64.b64encode(v.encode()).decode())\nprint('level:', os.environ.get('LEVEL'))\n"
	srv := startServer(t, map[string]string{
		"named/main.py":         printEnv,
		"named/pipeline.json":   `{"secrets": ["API_TOKEN", "LEVEL"], "default_env": {"LEVEL": "from-default"}}`,
		"unnamed/main.py":       printEnv,
		"missing/main.py":       printEnv,
		"missing/pipeline.json": `{"secrets": ["NOT_SET_ANYWHERE"]}`,
	}, []string{"ENCRYPTION_KEY=" + strings.TrimSpace(key)}, func(s *testServer) {
		s.cli("tok-8f3a9c2e71\n", s.environ, "secret", "set", "API_TOKEN")
		s.cli("from-secret\n", s.environ, "secret", "set", "LEVEL")
	})

	out, stderr, code := srv.cli("", srv.client, "run", "named", "--follow")
	if code != 0 {
		t.Fatalf("named: exit %d\n%s%s", code, out, stderr)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("tok-8f3a9c2e71"))
	if strings.Contains(out, "tok-8f3a9c2e71") || strings.Contains(out, b64) {
		t.Errorf("the secret leaked into the log:\n%s", out)
	}
	for _, want := range []string{"token: ***", "b64: ***", "level: ***"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q (secret injected and masked):\n%s", want, out)
		}
	}

	out, _, code = srv.cli("", srv.client, "run", "named", "--follow", "--env", "LEVEL=from-run-env")
	if code != 0 || !strings.Contains(out, "level: from-run-env") {
		t.Errorf("run env must beat a secret: exit %d\n%s", code, out)
	}

	out, _, code = srv.cli("", srv.client, "run", "unnamed", "--follow")
	if code != 0 || !strings.Contains(out, "token: <unset>") {
		t.Errorf("a pipeline that names no secret got one: exit %d\n%s", code, out)
	}

	var sink bytes.Buffer
	err := run(context.Background(), []string{"run", "missing"}, nil, &sink, &sink, srv.client)
	if err == nil || !strings.Contains(err.Error(), "NOT_SET_ANYWHERE") || !strings.Contains(err.Error(), "409") {
		t.Errorf("run naming a missing secret: %v, want a 409 naming NOT_SET_ANYWHERE", err)
	}
}
