package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/internal/testenv"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// requirePromtool finds Debian's promtool (scripts/test-env.sh installs
// the prometheus package).
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		err = errors.New("promtool not on PATH (apt-get install prometheus, or bash scripts/test-env.sh)")
	}
	testenv.Require(t, "promtool", err)
	return p
}

// TestMetricsEndpoints: /metrics on the main listener answers 401 without
// a token and 200 with an API token; METRICS_LISTEN_ADDR serves the same
// without one and nothing else; the counters count the runs the test made,
// and promtool accepts the scrape.
func TestMetricsEndpoints(t *testing.T) {
	maddr := freeAddr(t)
	srv := startServer(t, map[string]string{
		"hello/main.py": "print('hello')\n",
		"fails/main.py": "raise SystemExit('no')\n",
	}, []string{"METRICS_LISTEN_ADDR=" + maddr}, nil)
	var token string
	for _, kv := range srv.client {
		if v, ok := strings.CutPrefix(kv, "FASTFLOW_TOKEN="); ok {
			token = v
		}
	}
	for _, args := range [][]string{{"run", "hello", "--follow"}, {"run", "hello", "--follow"}, {"run", "fails", "--follow"}} {
		srv.cli("", srv.client, args...)
	}

	main := "http://" + srv.addr + "/metrics"
	if code, body := scrape(t, main, ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token = %d, want 401: %s", code, body)
	}
	if code, _ := scrape(t, main, "ff_wrong"); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics with a wrong token = %d, want 401", code)
	}
	code, body := scrape(t, main, token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics with a token = %d: %s", code, body)
	}
	for _, want := range []string{
		`fastflow_runs_finished_total{error_type="",pipeline="hello",status="SUCCESS"} 2`,
		`fastflow_runs_finished_total{error_type="EXIT_CODE",pipeline="fails",status="FAILED"} 1`,
		`fastflow_runs_started_total{pipeline="hello",trigger="manual"} 2`,
		`fastflow_syncs_total{outcome="updated"} 1`,
		"fastflow_docker_up 1",
		"fastflow_runs_running 0",
		"fastflow_build_info{",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}

	pcode, pbody := scrape(t, "http://"+maddr+"/metrics", "")
	if pcode != http.StatusOK || !strings.Contains(pbody, "fastflow_runs_finished_total") {
		t.Errorf("METRICS_LISTEN_ADDR /metrics = %d", pcode)
	}
	if c, _ := scrape(t, "http://"+maddr+"/api/runs", ""); c != http.StatusNotFound {
		t.Errorf("METRICS_LISTEN_ADDR /api/runs = %d, want 404", c)
	}

	promtool := requirePromtool(t)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(pbody)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
