package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
)

// TestPrometheusScrapes: a real Prometheus server (Debian's package, on
// 127.0.0.1 with storage of its own) scrapes a served Fast-Flow's
// METRICS_LISTEN_ADDR every second, and a PromQL query through its HTTP
// API returns the number of runs the test made.
func TestPrometheusScrapes(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		err = errors.New("prometheus not on PATH (apt-get install prometheus, or bash scripts/test-env.sh)")
	}
	testenv.Require(t, "Prometheus", err)

	maddr := freeAddr(t)
	srv := startServer(t, map[string]string{
		"hello/main.py": "print('hello')\n",
		"fails/main.py": "raise SystemExit('no')\n",
	}, []string{"METRICS_LISTEN_ADDR=" + maddr}, nil)
	const runs = 4
	for i := range runs {
		name := "hello"
		if i == runs-1 {
			name = "fails"
		}
		srv.cli("", srv.client, "run", name, "--follow")
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: fastflow
    static_configs:
      - targets: [%q]
`, maddr), 0o644); err != nil {
		t.Fatal(err)
	}
	paddr := freeAddr(t)
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+paddr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// SIGTERM lets it close its storage; WaitDelay kills it if it hangs.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})

	query := `sum(fastflow_runs_finished_total{job="fastflow"})`
	started := time.Now()
	deadline := started.Add(60 * time.Second)
	var last string
	for {
		got, err := promQuery(paddr, query)
		if err == nil && got == runs {
			break
		}
		last = fmt.Sprintf("%v, %v", got, err)
		if time.Now().After(deadline) {
			t.Fatalf("%s never returned %d within 60 s; last answer %s", query, runs, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%s = %d, %.1f s after Prometheus started", query, runs, time.Since(started).Seconds())
	if got, err := promQuery(paddr, `sum(fastflow_runs_finished_total{pipeline="fails",status="FAILED"})`); err != nil || got != 1 {
		t.Errorf("failed runs = %v, %v; want 1", got, err)
	}
	if got, err := promQuery(paddr, `up{job="fastflow"}`); err != nil || got != 1 {
		t.Errorf("up = %v, %v; want 1", got, err)
	}
}

// promQuery runs an instant query and returns its single sample's value.
func promQuery(addr, q string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("decode answer: %w", err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %s: %s", body.Status, body.Error)
	}
	if len(body.Data.Result) != 1 {
		return 0, fmt.Errorf("%d samples, want 1", len(body.Data.Result))
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("sample %q: %w", s, err)
	}
	return v, nil
}
