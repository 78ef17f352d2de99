package main

// The tests here start pods, whose network interfaces come and go on the
// host; Chromium abandons page loads when that happens. Go runs a
// package's tests in file order, and this file sorts after the browser
// tests' (browser_*, proxy_nginx_*), so none of them runs beside a pod.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/repo/gittest"
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
// pipelines as Jobs on the real test cluster, with the outcomes Docker
// gives: a run with a parameter and a secret succeeds with its output
// (the secret masked), a failing one ends FAILED with its traceback, one
// over its memory limit FAILED/OOM, one over its timeout TIMEOUT, a
// cancelled one CANCELLED; /health names the runtime's check.
func TestServeKubernetes(t *testing.T) {
	kubeconfig := testKubeconfig(t)
	key, _, _ := (&testServer{t: t}).cli("", nil, "keygen")
	srv := startServer(t, map[string]string{
		"hello/main.py":       "import os\nprint('hello from a pod, day=' + os.environ['DAY'])\nprint('token:', os.environ['API_TOKEN'])\n",
		"hello/pipeline.json": `{"parameters": {"DAY": {"type": "string", "default": "monday"}}, "secrets": ["API_TOKEN"]}`,
		"fails/main.py":       "def f():\n    raise ValueError('broken on purpose')\nf()\n",
		"hog/main.py":         "b = bytearray(512 * 1024 * 1024)\nprint('allocated', len(b))\n",
		"hog/pipeline.json":   `{"mem_hard_limit": "64m"}`,
		"slow/main.py":        "import time\nprint('waiting', flush=True)\ntime.sleep(300)\n",
		"slow/pipeline.json":  `{"timeout": 3}`,
		"idle/main.py":        "import time\nprint('idle', flush=True)\ntime.sleep(300)\n",
	}, []string{"RUNTIME=kubernetes", "KUBECONFIG=" + kubeconfig, "K8S_NAMESPACE=default", "ENCRYPTION_KEY=" + strings.TrimSpace(key)},
		func(s *testServer) { s.cli("tok-k8s-5d1e\n", s.environ, "secret", "set", "API_TOKEN") })
	out, stderr, code := srv.cli("", srv.client, "run", "hello", "--param", "DAY=friday", "--follow")
	if code != 0 || !strings.Contains(out, "hello from a pod, day=friday") || !strings.Contains(out, "token: ***") || strings.Contains(out, "tok-k8s-5d1e") {
		t.Errorf("run hello --follow: exit %d, stdout %q, stderr %q; want the parameter, the secret masked", code, out, stderr)
	}
	out, stderr, code = srv.cli("", srv.client, "run", "fails", "--follow")
	if code != 1 || !strings.Contains(out, "ValueError: broken on purpose") || !strings.Contains(out, "Traceback") {
		t.Errorf("run fails --follow: exit %d (want 1), stdout %q, stderr %q", code, out, stderr)
	}

	api := kubeAPI(t, srv)
	for _, tc := range []struct {
		pipeline  string
		cancel    bool
		status    string
		errorType string
	}{
		{pipeline: "hog", status: "FAILED", errorType: "OOM"},
		{pipeline: "slow", status: "TIMEOUT"},
		{pipeline: "idle", cancel: true, status: "CANCELLED"},
	} {
		var run struct {
			ID        string  `json:"id"`
			Status    string  `json:"status"`
			ErrorType *string `json:"error_type"`
			Message   string  `json:"message"`
		}
		api("POST", "/api/pipelines/"+tc.pipeline+"/run", `{}`, &run)
		if tc.cancel {
			deadline := time.Now().Add(2 * time.Minute)
			for run.Status != "RUNNING" && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				api("GET", "/api/runs/"+run.ID, "", &run)
			}
			api("POST", "/api/runs/"+run.ID+"/cancel", "", nil)
		}
		deadline := time.Now().Add(3 * time.Minute)
		for {
			api("GET", "/api/runs/"+run.ID, "", &run)
			if run.Status != "PENDING" && run.Status != "RUNNING" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %s after 3 minutes", tc.pipeline, run.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
		et := ""
		if run.ErrorType != nil {
			et = *run.ErrorType
		}
		if run.Status != tc.status || et != tc.errorType {
			t.Errorf("%s: %s/%s %q, want %s/%s", tc.pipeline, run.Status, et, run.Message, tc.status, tc.errorType)
		}
	}

	h := getHealth(t, srv.addr)
	if c, ok := h.Checks["kubernetes"]; !ok || !c.OK {
		t.Errorf("/health checks = %+v; want a passing kubernetes check", h.Checks)
	}
	if _, ok := h.Checks["docker"]; ok {
		t.Error("/health has a docker check with RUNTIME=kubernetes")
	}
}

// kubeAPI returns a caller of srv's JSON API with its token, decoding
// the answer into out (nil: drop it); an answer that is not 2xx fails t.
func kubeAPI(t *testing.T, srv *testServer) func(method, path, body string, out any) {
	var base, token string
	for _, kv := range srv.client {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "FASTFLOW_URL":
			base = v
		case "FASTFLOW_TOKEN":
			token = v
		}
	}
	return func(method, path, body string, out any) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatalf("%s %s: decode: %v", method, path, err)
			}
		}
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

// TestKubernetesReattachAfterKill: `fastflow serve` with RUNTIME=kubernetes
// is killed with SIGKILL while a run prints; the next start re-attaches
// to its Job, and the run ends SUCCESS with every line in its log once.
func TestKubernetesReattachAfterKill(t *testing.T) {
	kubeconfig := testKubeconfig(t)
	bin := hostileBinary(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{
		"counter/main.py": "import time\nfor i in range(1, 31):\n    print('line', i, flush=True)\n    time.sleep(0.2)\n",
	})
	data := t.TempDir()
	settings := []string{"RUNTIME=kubernetes", "KUBECONFIG=" + kubeconfig, "K8S_NAMESPACE=default", "WORKER_BASE_IMAGE=fastflow-worker:local"}
	first := startServe(t, bin, remote.Dir, data, settings...)
	token := adminToken(t, bin, "DATA_DIR="+data)
	call := func(s *servedBinary, method, path string, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var run struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	waitReady(t, first)
	call(first, "POST", "/api/pipelines/counter/run", &run)
	type logPage struct {
		Items []struct {
			N    int64  `json:"n"`
			Text string `json:"text"`
		} `json:"items"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var page logPage
		call(first, "GET", "/api/runs/"+run.ID+"/logs", &page)
		if len(page.Items) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run printed nothing within 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.cmd.Process.Wait()
	second := startServe(t, bin, remote.Dir, data, settings...)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		call(second, "GET", "/api/runs/"+run.ID, &run)
		if run.Status != "PENDING" && run.Status != "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run still %s 2 minutes after the restart", run.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if run.Status != "SUCCESS" {
		t.Fatalf("run ended %s (%s), want SUCCESS", run.Status, run.Message)
	}
	var page logPage
	call(second, "GET", "/api/runs/"+run.ID+"/logs?limit=1000", &page)
	var got []string
	for _, l := range page.Items {
		got = append(got, l.Text)
	}
	var want []string
	for i := 1; i <= 30; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log after the re-attach:\n%s\nwant lines 1 to 30, each once", strings.Join(got, "\n"))
	}
}

// waitReady waits until s answers /readyz: reconciled, synced, admitting.
func waitReady(t *testing.T, s *servedBinary) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
