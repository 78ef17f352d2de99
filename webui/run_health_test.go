package webui

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/health"
)

// TestAPIRunContainerHealth: GET /api/runs/{id}/health carries the health
// history the operator kept (state, streak, changes, probes with their
// output) for a run whose container had a health check, null for one
// without, and 404 for an unknown run; the run page shows the history as
// a block of its own only when there is one.
func TestAPIRunContainerHealth(t *testing.T) {
	t.Parallel()
	e := newFakeAPIEnv(t, newFakeOperator())
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	newRun := func() status.Run {
		id, err := status.NewRunID()
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.store.CreateRun(ctx, status.Run{ID: id, Pipeline: "svc", Status: status.RunFailed, ErrorType: status.ErrorUnhealthy,
			Message: "unhealthy for longer than HEALTH_GRACE=60s", QueuedAt: t0,
			LogPath: filepath.Join(dir, id+".log"), MetricsPath: filepath.Join(dir, id+"_metrics.jsonl")})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	checked, plain := newRun(), newRun()
	var hist health.History
	hist.Observe(t0, health.StateStarting, 0, nil)
	hist.Observe(t0.Add(10*time.Second), health.StateHealthy, 0, []health.Probe{{Start: t0.Add(10 * time.Second), End: t0.Add(10*time.Second + 40*time.Millisecond), Output: "ok\n"}})
	hist.Observe(t0.Add(40*time.Second), health.StateUnhealthy, 3, []health.Probe{
		{Start: t0.Add(20 * time.Second), End: t0.Add(20 * time.Second), ExitCode: 1, Output: "<b>connection refused</b>\n"},
		{Start: t0.Add(30 * time.Second), End: t0.Add(30 * time.Second), ExitCode: 1, Output: "<b>connection refused</b>\n"},
		{Start: t0.Add(40 * time.Second), End: t0.Add(40 * time.Second), ExitCode: 1, Output: "<b>connection refused</b>\n"},
	})
	path, err := health.Path(checked.MetricsPath, checked.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := health.Write(path, hist); err != nil {
		t.Fatal(err)
	}

	type probeJSON struct {
		Start    time.Time `json:"start"`
		ExitCode int       `json:"exit_code"`
		Output   string    `json:"output"`
	}
	var got struct {
		ID              string `json:"id"`
		ContainerHealth *struct {
			State         string    `json:"state"`
			FailingStreak int       `json:"failing_streak"`
			Since         time.Time `json:"since"`
			LastOutput    string    `json:"last_output"`
			Changes       []struct {
				At    time.Time `json:"at"`
				State string    `json:"state"`
			} `json:"changes"`
			Probes []probeJSON `json:"probes"`
		} `json:"container_health"`
	}
	code, body := e.do("GET", "/api/runs/"+checked.ID+"/health", nil, &got)
	if code != http.StatusOK || got.ID != checked.ID || got.ContainerHealth == nil {
		t.Fatalf("health of a run with a health check = %d %s", code, body)
	}
	ch := got.ContainerHealth
	if ch.State != health.StateUnhealthy || ch.FailingStreak != 3 || !ch.Since.Equal(t0.Add(40*time.Second)) || ch.LastOutput != "<b>connection refused</b>\n" {
		t.Errorf("container_health = %+v, want unhealthy since +40s with a streak of 3 and the last output", ch)
	}
	if len(ch.Changes) != 3 || ch.Changes[2].State != health.StateUnhealthy || len(ch.Probes) != 4 ||
		ch.Probes[0] != (probeJSON{Start: t0.Add(10 * time.Second), Output: "ok\n"}) || ch.Probes[3].ExitCode != 1 {
		t.Errorf("history = %s, want 3 changes and 4 probes oldest first", body)
	}

	var raw map[string]json.RawMessage
	if code, body := e.do("GET", "/api/runs/"+plain.ID+"/health", nil, &raw); code != http.StatusOK || string(raw["container_health"]) != "null" {
		t.Errorf("health of a run without a health check = %d %s, want 200 with container_health null", code, body)
	}
	if code, body := e.do("GET", "/api/runs/0193aaaa-0000-7000-8000-000000000000/health", nil, nil); code != http.StatusNotFound {
		t.Errorf("health of an unknown run = %d %s, want 404", code, body)
	}

	code, page := e.do("GET", "/runs/"+checked.ID, nil, nil)
	text := string(page)
	if code != http.StatusOK || !strings.Contains(text, `id="container-health"`) || !strings.Contains(text, "3</strong> failed probes in a row") ||
		!strings.Contains(text, "&lt;b&gt;connection refused&lt;/b&gt;") || strings.Contains(text, "<b>connection refused</b>") {
		t.Errorf("run page with a health check = %d; want the health block with the escaped probe output:\n%s", code, page)
	}
	if i, j := strings.Index(text, ">unhealthy<"), strings.Index(text, ">healthy<"); i < 0 || j < 0 || i > j {
		t.Errorf("the page lists the state changes oldest first or misses one (unhealthy at %d, healthy at %d)", i, j)
	}
	if code, page := e.do("GET", "/runs/"+plain.ID, nil, nil); code != http.StatusOK || strings.Contains(string(page), `id="container-health"`) {
		t.Errorf("run page without a health check = %d, want no health block", code)
	}
	if code, page := e.do("GET", "/runs/"+checked.ID, nil, nil); code != http.StatusOK || !strings.Contains(string(page), "Unhealthy: the container&#39;s health check failed for longer than HEALTH_GRACE") {
		t.Errorf("run page of an UNHEALTHY run = %d, want the error type in words", code)
	}
}
