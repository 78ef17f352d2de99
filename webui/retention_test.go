package webui

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// TestLogRemovedByRetention: a run whose files retention removed answers
// 410 with the time on every log and metrics route, its JSON says when and
// why, and its page says so instead of "no output".
func TestLogRemovedByRetention(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{files: map[string]string{"hello/main.py": "print('hello')\n"}})
	ctx := context.Background()
	run, err := e.store.CreateRun(ctx, status.Run{Pipeline: "hello", Status: status.RunSuccess,
		QueuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), LogPath: "/nonexistent/x.log", MetricsPath: "/nonexistent/x.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	if _, err := e.store.MarkLogsRemoved(ctx, []string{run.ID}, when, "LOG_RETENTION_DAYS"); err != nil {
		t.Fatal(err)
	}
	const want = "log removed by retention on 2026-02-03T04:05:06Z"
	for _, path := range []string{"/logs", "/logs?tail=5", "/logs?download=1", "/logs?format=text", "/logs/stream", "/metrics", "/metrics/stream"} {
		code, body := e.do("GET", "/api/runs/"+run.ID+path, nil, nil)
		if code != http.StatusGone || !strings.Contains(string(body), want) || !strings.Contains(string(body), "LOG_RETENTION_DAYS") {
			t.Errorf("GET %s = %d %s; want 410 saying %q", path, code, body, want)
		}
	}
	var got runJSON
	if code, body := e.do("GET", "/api/runs/"+run.ID, nil, &got); code != http.StatusOK || got.LogRemovedAt == nil ||
		!got.LogRemovedAt.Equal(when) || got.LogRemovedReason != "LOG_RETENTION_DAYS" {
		t.Errorf("GET run = %d %s; want log_removed_at %v by LOG_RETENTION_DAYS", code, body, when)
	}
	code, page := e.do("GET", "/runs/"+run.ID, nil, nil)
	if code != http.StatusOK || !strings.Contains(string(page), want) {
		t.Errorf("run page = %d; want it to say %q:\n%s", code, want, page)
	}
}
