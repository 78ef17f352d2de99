package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// runPipelines are the pipelines of the tests that run containers.
var runPipelines = map[string]string{
	"hello/main.py":   "print('hello')\n",
	"failing/main.py": "import sys\nprint('about to fail')\nsys.exit(3)\n",
	// counter prints 300 numbered lines over about 6 s.
	"counter/main.py": "import time\nfor i in range(1, 301):\n    print(f'line {i}', flush=True)\n    time.sleep(0.02)\n",
	// flood prints 10,000 lines a second for 2 s.
	"flood/main.py": "import sys, time\nstart = time.monotonic()\nfor i in range(1, 20001):\n" +
		"    sys.stdout.write(f'flood {i}\\n')\n" +
		"    if i % 500 == 0:\n        sys.stdout.flush()\n        time.sleep(max(0, start + i / 10000 - time.monotonic()))\n",
	"sleeper/main.py": "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n",
}

// TestAPIRunToSuccess: a run started through the API is 201, reaches
// SUCCESS polled through the API, and its log, metrics and health answer;
// it can be retried, not cancelled.
func TestAPIRunToSuccess(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: runPipelines})
	var created runJSON
	code, body := e.do("POST", "/api/pipelines/hello/run", `{"env": {"GREETING": "hi"}}`, &created)
	if code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, body)
	}
	if created.Status != status.RunPending || created.TriggeredBy != "alice" || created.Trigger != status.TriggerManual {
		t.Errorf("created %+v, want PENDING, manual, by alice", created)
	}
	run := e.waitRun(created.ID, 90*time.Second)
	if run.Status != status.RunSuccess || run.ExitCode == nil || *run.ExitCode != 0 || run.FinishedAt == nil || run.DurationSeconds == nil {
		t.Fatalf("run %+v, want SUCCESS with exit 0 and times", run)
	}
	if !strings.Contains(strings.Join(run.EnvNames, ","), "GREETING") {
		t.Errorf("env_names %v lack GREETING", run.EnvNames)
	}

	var tail listJSON[logs.Line]
	if code, body := e.do("GET", run.LogURL+"?tail=1", nil, &tail); code != http.StatusOK || len(tail.Items) != 1 || tail.Items[0].Text != "hello" {
		t.Errorf("tail=1: %d %s", code, body)
	}
	var page listJSON[logs.Line]
	e.do("GET", run.LogURL, nil, &page)
	if len(page.Items) == 0 || page.Items[0].N != 1 || page.NextCursor != "" {
		t.Errorf("whole log: %+v", page)
	}
	if code, text := e.do("GET", run.LogURL+"?format=text", nil, nil); code != http.StatusOK || !strings.Contains(string(text), "hello\n") {
		t.Errorf("format=text: %d %q", code, text)
	}
	resp := e.request(context.Background(), "GET", run.LogURL+"?download=1", nil, nil)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(cd, "attachment") ||
		!strings.Contains(string(raw), " stdout hello\n") {
		t.Errorf("download: %d %q %q", resp.StatusCode, cd, raw)
	}
	for _, q := range []string{"?tail=0", "?tail=x", "?limit=0", "?after=-1", "?format=xml"} {
		if code, _ := e.do("GET", run.LogURL+q, nil, nil); code != http.StatusBadRequest {
			t.Errorf("logs%s = %d, want 400", q, code)
		}
	}
	var health runHealthJSON
	if code, body := e.do("GET", "/api/runs/"+run.ID+"/health", nil, &health); code != http.StatusOK || health.Running || health.LogLines == 0 {
		t.Errorf("health: %d %s", code, body)
	}
	if code, body := e.do("GET", "/api/runs/"+run.ID+"/metrics", nil, nil); code != http.StatusOK {
		t.Errorf("metrics: %d %s", code, body)
	}

	if code, body := e.do("POST", "/api/runs/"+run.ID+"/cancel", nil, nil); code != http.StatusConflict {
		t.Errorf("cancel of a finished run: %d %s, want 409", code, body)
	}
	var retry runJSON
	if code, body := e.do("POST", "/api/runs/"+run.ID+"/retry", nil, &retry); code != http.StatusCreated {
		t.Fatalf("retry: %d %s", code, body)
	}
	if retry.RetryOf == nil || *retry.RetryOf != run.ID || retry.Attempt != 2 || retry.Trigger != status.TriggerRetry {
		t.Errorf("retry %+v", retry)
	}
	if r := e.waitRun(retry.ID, 90*time.Second); r.Status != status.RunSuccess {
		t.Errorf("retry ended %s", r.Status)
	}

	var failed runJSON
	e.do("POST", "/api/pipelines/failing/run", nil, &failed)
	if r := e.waitRun(failed.ID, 90*time.Second); r.Status != status.RunFailed || r.ErrorType == nil || *r.ErrorType != status.ErrorExitCode || *r.ExitCode != 3 {
		t.Errorf("failing run %+v", r)
	}
}

// TestAPIConcurrentRunLimit: 30 simultaneous run requests with
// MAX_CONCURRENT_RUNS=5 are exactly 5 × 201 and 25 × 429; the admitted
// runs are then cancelled through the API.
func TestAPIConcurrentRunLimit(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: runPipelines, opCfg: func(c *operator.Config) { c.MaxConcurrentRuns = 5 }})
	const n = 30
	codes := make([]int, n)
	ids := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			var r runJSON
			codes[i], _ = e.do("POST", "/api/pipelines/sleeper/run", nil, &r)
			ids[i] = r.ID
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	var admitted []string
	for i, c := range codes {
		count[c]++
		if c == http.StatusCreated {
			admitted = append(admitted, ids[i])
		}
	}
	if count[http.StatusCreated] != 5 || count[http.StatusTooManyRequests] != 25 {
		t.Errorf("answers %v, want 5 × 201 and 25 × 429", count)
	}
	for _, id := range admitted {
		if code, body := e.do("POST", "/api/runs/"+id+"/cancel", nil, nil); code != http.StatusAccepted {
			t.Errorf("cancel %s: %d %s", id, code, body)
		}
	}
	for _, id := range admitted {
		if r := e.waitRun(id, 60*time.Second); r.Status != status.RunCancelled {
			t.Errorf("run %s ended %s, want CANCELLED", id, r.Status)
		}
	}
}

// streamLog reads a run's log stream from after until stop returns true
// (then the connection is dropped) or the stream ends. It returns the
// events read.
func (e *apiEnv) streamLog(id string, hdr map[string]string, query string, stop func(sseEvent) bool) []sseEvent {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp := e.request(ctx, "GET", "/api/runs/"+id+"/logs/stream"+query, nil, hdr)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			e.t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var evs []sseEvent
	err := readSSE(resp.Body, func(ev sseEvent) bool {
		evs = append(evs, ev)
		return ev.Name != "end" && (stop == nil || !stop(ev))
	})
	if err != nil && ctx.Err() != nil {
		e.t.Fatalf("stream did not end within 2 minutes: %v", err)
	}
	return evs
}

// accountFor checks that events cover every number from first on exactly
// once, in order, as lines or skipped notices, and returns the lines' texts
// by number and the numbers skipped.
func accountFor(t *testing.T, evs []sseEvent, first int64) (lines map[int64]string, skippedN int64, next int64) {
	t.Helper()
	lines = map[int64]string{}
	next = first
	for _, ev := range evs {
		switch ev.Name {
		case "":
			var l logs.Line
			if err := json.Unmarshal([]byte(ev.Data), &l); err != nil {
				t.Fatalf("event %q: %v", ev.Data, err)
			}
			if id, _ := strconv.ParseInt(ev.ID, 10, 64); id != l.N {
				t.Fatalf("event id %s for line %d", ev.ID, l.N)
			}
			if l.N != next {
				t.Fatalf("line %d after %d: a gap or a duplicate", l.N, next-1)
			}
			lines[l.N] = l.Text
			next++
		case "skipped":
			var s skipped
			if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
				t.Fatalf("skipped %q: %v", ev.Data, err)
			}
			if s.From != next || s.To < s.From || s.Skipped != s.To-s.From+1 || ev.ID != strconv.FormatInt(s.To, 10) {
				t.Fatalf("skipped %+v (id %s) after line %d", s, ev.ID, next-1)
			}
			skippedN += s.Skipped
			next = s.To + 1
		case "end":
		default:
			t.Fatalf("unexpected event %q", ev.Name)
		}
	}
	return lines, skippedN, next
}

// TestAPILogStreamResume: a reader that drops the connection at line N and
// comes back with Last-Event-ID: N gets N+1 onwards, no gap and no
// duplicate, while the run goes on; together the two connections carry
// exactly the stored log.
func TestAPILogStreamResume(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: runPipelines})
	var run runJSON
	if code, body := e.do("POST", "/api/pipelines/counter/run", nil, &run); code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, body)
	}
	const cut = 40
	first := e.streamLog(run.ID, nil, "", func(ev sseEvent) bool { return ev.ID == strconv.Itoa(cut) })
	got, skipped1, next := accountFor(t, first, 1)
	if next != cut+1 {
		t.Fatalf("first connection ended at %d, want %d", next-1, cut)
	}
	var mid runJSON
	e.do("GET", "/api/runs/"+run.ID, nil, &mid)
	if mid.Status.Final() {
		t.Fatalf("the run ended (%s) before the reconnect: the test proves nothing", mid.Status)
	}
	second := e.streamLog(run.ID, map[string]string{"Last-Event-ID": strconv.Itoa(cut)}, "?after=1", nil)
	if last := second[len(second)-1]; last.Name != "end" {
		t.Fatalf("second connection ended with %+v, want an end event", last)
	}
	more, skipped2, end := accountFor(t, second, cut+1)
	if skipped1+skipped2 != 0 {
		t.Errorf("%d lines skipped below the rate limit", skipped1+skipped2)
	}
	for n, text := range more {
		got[n] = text
	}
	stored, err := logs.Read(mustRunLogPath(t, e, run.ID), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(stored)) != end-1 || len(got) != len(stored) {
		t.Fatalf("streamed %d lines up to %d, the file has %d", len(got), end-1, len(stored))
	}
	for _, l := range stored {
		if got[l.N] != l.Text {
			t.Errorf("line %d streamed %q, stored %q", l.N, got[l.N], l.Text)
		}
	}
	counted := 0
	for _, l := range stored {
		if strings.HasPrefix(l.Text, "line ") {
			counted++
			if l.Text != fmt.Sprintf("line %d", counted) {
				t.Fatalf("stored line %q, want line %d", l.Text, counted)
			}
		}
	}
	if counted != 300 {
		t.Errorf("the log has %d numbered lines, want 300", counted)
	}
}

func mustRunLogPath(t *testing.T, e *apiEnv, id string) string {
	t.Helper()
	r, err := e.store.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.LogPath
}

// TestAPILogStreamRateLimit: a pipeline printing 10,000 lines a second is
// streamed at LOG_STREAM_RATE_LIMIT (100) lines a second with notices of
// the lines skipped, while the file keeps every line.
func TestAPILogStreamRateLimit(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: runPipelines})
	var run runJSON
	if code, body := e.do("POST", "/api/pipelines/flood/run", nil, &run); code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, body)
	}
	began := time.Now()
	evs := e.streamLog(run.ID, nil, "", nil)
	took := time.Since(began)
	lines, skippedN, next := accountFor(t, evs, 1)
	notices := 0
	for _, ev := range evs {
		if ev.Name == "skipped" {
			notices++
		}
	}
	stored, err := logs.Read(mustRunLogPath(t, e, run.ID), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	flood := 0
	for _, l := range stored {
		if strings.HasPrefix(l.Text, "flood ") {
			flood++
			if l.Text != fmt.Sprintf("flood %d", flood) {
				t.Fatalf("stored %q, want flood %d", l.Text, flood)
			}
		}
	}
	if flood != 20000 {
		t.Errorf("the file has %d flood lines, want 20000", flood)
	}
	if next-1 != int64(len(stored)) {
		t.Errorf("the stream accounted for %d lines, the file has %d", next-1, len(stored))
	}
	// One window of 100 lines a second, plus one for the window the
	// stream started in.
	maxLines := int(100 * (took.Seconds() + 2))
	if notices == 0 || skippedN == 0 || len(lines) > maxLines {
		t.Errorf("%d lines sent in %s (at most %d), %d skipped in %d notices", len(lines), took, maxLines, skippedN, notices)
	}
	t.Logf("%d lines sent, %d skipped in %d notices, over %s", len(lines), skippedN, notices, took)
}

// TestAPIMetricsStream: the metrics stream of a run ends with the run and
// carries numbered points, as many as the file.
func TestAPIMetricsStream(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: runPipelines})
	var run runJSON
	e.do("POST", "/api/pipelines/counter/run", nil, &run)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp := e.request(ctx, "GET", "/api/runs/"+run.ID+"/metrics/stream", nil, nil)
	defer resp.Body.Close()
	var points []pointJSON
	ended := false
	err := readSSE(resp.Body, func(ev sseEvent) bool {
		if ev.Name == "end" {
			ended = true
			return false
		}
		var p pointJSON
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil || ev.ID != strconv.FormatInt(p.N, 10) {
			t.Errorf("event %+v: %v", ev, err)
		}
		points = append(points, p)
		return true
	})
	if err != nil || !ended {
		t.Fatalf("stream ended without an end event: %v", err)
	}
	var stored listJSON[pointJSON]
	e.do("GET", "/api/runs/"+run.ID+"/metrics", nil, &stored)
	if len(points) != len(stored.Items) {
		t.Errorf("streamed %d points, stored %d", len(points), len(stored.Items))
	}
	for i, p := range points {
		if p.N != int64(i+1) {
			t.Fatalf("point %d has number %d", i, p.N)
		}
	}
}

// TestAPIRunQueueRealOperator: with MAX_CONCURRENT_RUNS=1 taken, a manual
// run without "queue" is 429 and leaves nothing behind; with "queue" it is
// 202 and PENDING, "queued": true, and starts and succeeds once the slot
// frees.
func TestAPIRunQueueRealOperator(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: runPipelines, opCfg: func(c *operator.Config) { c.MaxConcurrentRuns = 1 }})
	var sleeper runJSON
	if code, body := e.do("POST", "/api/pipelines/sleeper/run", nil, &sleeper); code != http.StatusCreated {
		t.Fatalf("sleeper: %d %s", code, body)
	}
	if code, body := e.do("POST", "/api/pipelines/hello/run", map[string]any{}, nil); code != http.StatusTooManyRequests {
		t.Fatalf("hello without queue: %d %s, want 429", code, body)
	}
	var queued runJSON
	if code, body := e.do("POST", "/api/pipelines/hello/run", map[string]any{"queue": true}, &queued); code != http.StatusAccepted {
		t.Fatalf("hello with queue: %d %s, want 202", code, body)
	}
	if queued.Status != status.RunPending || queued.Queued == nil || !*queued.Queued {
		t.Errorf("queued run %+v, want PENDING and queued", queued)
	}
	var got runJSON
	if code, body := e.do("GET", "/api/runs/"+queued.ID, nil, &got); code != http.StatusOK || got.Queued == nil || !*got.Queued {
		t.Errorf("GET queued run: %d %s", code, body)
	}
	page, err := e.store.ListRuns(t.Context(), status.RunFilter{Pipeline: "hello"})
	if err != nil || len(page.Runs) != 1 {
		t.Errorf("runs of hello: %d, %v; want only the queued one (the refused request left none)", len(page.Runs), err)
	}
	if code, body := e.do("POST", "/api/runs/"+sleeper.ID+"/cancel", nil, nil); code != http.StatusAccepted {
		t.Fatalf("cancel sleeper: %d %s", code, body)
	}
	if r := e.waitRun(queued.ID, 90*time.Second); r.Status != status.RunSuccess || r.Queued != nil {
		t.Errorf("queued run ended %+v, want SUCCESS without a queued field", r)
	}
}
