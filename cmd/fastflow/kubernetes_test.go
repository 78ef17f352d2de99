package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/runtime/kubernetes"
	"github.com/fastflow-dev/fastflow/webui"
)

// testKubeconfig is the test cluster's kubeconfig (scripts/k8s-cluster.sh),
// or KUBECONFIG; the test fails under CI=true when no cluster answers.
func testKubeconfig(t *testing.T) string {
	t.Helper()
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		state := os.Getenv("FASTFLOW_K8S_STATE")
		if state == "" {
			state = "/run/fastflow-k8s"
		}
		path = filepath.Join(state, "kubeconfig")
	}
	ping := func() error {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no kubeconfig (run scripts/k8s-cluster.sh up): %w", err)
		}
		c, err := kubernetes.New(kubernetes.Config{Kubeconfig: path})
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.Ping(ctx)
	}
	testenv.Require(t, "a Kubernetes cluster", ping())
	return path
}

// TestServeKubernetes: `fastflow serve` with RUNTIME=kubernetes runs the
// pipelines as Jobs on the real test cluster: a run with a parameter
// succeeds with its output, a failing one ends FAILED with its traceback,
// and /health names the runtime's check.
func TestServeKubernetes(t *testing.T) {
	kubeconfig := testKubeconfig(t)
	srv := startServer(t, map[string]string{
		"hello/main.py":       "import os\nprint('hello from a pod, day=' + os.environ['DAY'])\n",
		"hello/pipeline.json": `{"parameters": {"DAY": {"type": "string", "default": "monday"}}}`,
		"fails/main.py":       "def f():\n    raise ValueError('broken on purpose')\nf()\n",
	}, []string{"RUNTIME=kubernetes", "KUBECONFIG=" + kubeconfig, "K8S_NAMESPACE=default"}, nil)
	out, stderr, code := srv.cli("", srv.client, "run", "hello", "--param", "DAY=friday", "--follow")
	if code != 0 || !strings.Contains(out, "hello from a pod, day=friday") {
		t.Errorf("run hello --follow: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	out, stderr, code = srv.cli("", srv.client, "run", "fails", "--follow")
	if code != 1 || !strings.Contains(out, "ValueError: broken on purpose") || !strings.Contains(out, "Traceback") {
		t.Errorf("run fails --follow: exit %d (want 1), stdout %q, stderr %q", code, out, stderr)
	}
	out, _, code = srv.cli("", srv.client, "runs")
	if code != 0 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "SUCCESS") {
		t.Errorf("runs: exit %d\n%s", code, out)
	}
	h := getHealth(t, srv.addr)
	if c, ok := h.Checks["kubernetes"]; !ok || !c.OK {
		t.Errorf("/health checks = %+v; want a passing kubernetes check", h.Checks)
	}
	if _, ok := h.Checks["docker"]; ok {
		t.Error("/health has a docker check with RUNTIME=kubernetes")
	}
}

// getHealth reads /health.
func getHealth(t *testing.T, addr string) webui.Health {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	defer resp.Body.Close()
	var h webui.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("decode /health: %v", err)
	}
	return h
}
