package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

// TestCLIAgainstServer runs the real server on Docker and drives it with
// the CLI as a user would: an API token from `fastflow token create`, then
// `fastflow run NAME --follow`, `runs` and `logs`.
func TestCLIAgainstServer(t *testing.T) {
	dockertest.RequireDocker(t)
	if err := exec.Command("docker", "image", "inspect", "fastflow-worker:local").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("fastflow-worker:local is missing; make test builds it")
		}
		t.Skip("fastflow-worker:local is missing")
	}
	remote := gittest.New(t)
	remote.Commit("two", map[string]string{
		"hello/main.py": "print('hello from the cli test')\n",
		"fails/main.py": "raise SystemExit('this one fails')\n",
	})
	data := t.TempDir()
	environ := []string{"DATA_DIR=" + data, "GIT_REPO_URL=" + remote.Dir, "WORKER_BASE_IMAGE=fastflow-worker:local",
		"WORKER_NETWORK=none", "LISTEN_ADDR=127.0.0.1:0", "ADMIN_PASSWORD=correct-horse-battery", "LOG_LEVEL=error",
		"UV_CACHE_DIR=" + filepath.Join(data, "uv")}
	cli := func(stdin string, env []string, args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, env)
		code := 0
		var exit exitError
		if errors.As(err, &exit) {
			code = exit.code
		} else if err != nil {
			t.Fatalf("fastflow %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), errOut.String(), code
	}
	cli("s3cret-password\n", environ, "user", "add", "ci")
	token, _, _ := cli("", environ, "token", "create", "ci-token", "--user", "ci")
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, "ff_") {
		t.Fatalf("token create printed %q", token)
	}

	cfg, err := configFrom(func() env {
		e := env{}
		for _, kv := range environ {
			k, v, _ := strings.Cut(kv, "=")
			e[k] = v
		}
		return e
	}())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	addr := <-ready
	t.Cleanup(func() { cancel(); <-done })
	client := []string{"FASTFLOW_URL=http://" + addr, "FASTFLOW_TOKEN=" + token}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
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
	err = run(context.Background(), []string{"runs"}, nil, &sink, &sink, []string{"FASTFLOW_URL=http://" + addr, "FASTFLOW_TOKEN=ff_wrong"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("runs with a wrong token: %v, want a 401 error", err)
	}
}
