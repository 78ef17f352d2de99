package webui

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// streamOutcome summarises a log stream: the line numbers sent, the
// skipped notices, and whether it ended.
type streamOutcome struct {
	Sent    []int64
	Skipped []skipped
	Ended   bool
}

// summarize parses a recorded stream, checking that ids never go back.
func summarize(t *testing.T, body string) streamOutcome {
	t.Helper()
	var out streamOutcome
	var lastID int64
	err := readSSE(strings.NewReader(body), func(ev sseEvent) bool {
		if ev.ID != "" {
			var id int64
			fmt.Sscan(ev.ID, &id)
			if id <= lastID {
				t.Errorf("event id %d after %d", id, lastID)
			}
			lastID = id
		}
		switch ev.Name {
		case "":
			out.Sent = append(out.Sent, lastID)
		case "skipped":
			var s skipped
			fmt.Sscanf(ev.Data, `{"skipped":%d,"from":%d,"to":%d}`, &s.Skipped, &s.From, &s.To)
			out.Skipped = append(out.Skipped, s)
		case "end":
			out.Ended = true
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

// TestLogStream drives the stream over a real log file and hub: what is in
// the file, what only the hub keeps, and the hand-over between them.
func TestLogStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// lines are written before the stream starts; live ones after.
		lines, live int
		keep        int  // lines the hub keeps for replay
		open        bool // the run is still going when the stream starts
		after       int64
		rate        int
		want        streamOutcome
	}{
		{
			name:  "finished run under the limit: every line, then end",
			lines: 50, keep: 10, rate: 100,
			want: streamOutcome{Sent: seq(1, 50), Ended: true},
		},
		{
			name:  "finished run over the limit: the older lines skipped, the latest sent",
			lines: 1000, keep: 10, rate: 100,
			want: streamOutcome{Sent: seq(901, 1000), Skipped: []skipped{{900, 1, 900}}, Ended: true},
		},
		{
			name:  "resume after a line of a finished run",
			lines: 50, keep: 10, after: 20, rate: 100,
			want: streamOutcome{Sent: seq(21, 50), Ended: true},
		},
		{
			name:  "resume at the end sends only the end",
			lines: 50, keep: 10, after: 50, rate: 100,
			want: streamOutcome{Ended: true},
		},
		{
			name:  "running run whose hub forgot the start: the gap comes from the file",
			lines: 100, keep: 10, open: true, rate: 1000,
			want: streamOutcome{Sent: seq(1, 100), Ended: true},
		},
		{
			name:  "live lines after the stored ones, no gap, no duplicate",
			lines: 300, live: 3000, keep: 50, open: true, rate: 1 << 20,
			want: streamOutcome{Sent: seq(1, 3300), Ended: true},
		},
		{
			name:  "resume in the middle of a live run",
			lines: 300, live: 300, keep: 50, open: true, after: 120, rate: 1 << 20,
			want: streamOutcome{Sent: seq(121, 600), Ended: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f"
			path := filepath.Join(t.TempDir(), id+".log")
			hubs := logs.NewHubs[logs.Line](tt.keep)
			hub := hubs.Open(id)
			w, err := logs.Open(path, logs.Options{Hub: hub})
			if err != nil {
				t.Fatal(err)
			}
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			write := func(i int) {
				if err := w.Write(runtime.LogLine{Time: base.Add(time.Duration(i) * time.Millisecond), Stream: "stdout", Text: fmt.Sprintf("line %d", i)}); err != nil {
					t.Error(err)
				}
			}
			for i := 1; i <= tt.lines; i++ {
				write(i)
			}
			var final atomic.Bool
			finish := func() {
				if err := w.Close(); err != nil {
					t.Error(err)
				}
				final.Store(true)
				hubs.Close(id)
			}
			if !tt.open {
				finish()
			}
			run := status.Run{ID: id, LogPath: path}
			getRun := func(context.Context) (status.Run, error) {
				r := run
				r.Status = status.RunRunning
				if final.Load() {
					r.Status = status.RunSuccess
				}
				return r, nil
			}
			cur := logs.NewCursor(run.LogPath)
			defer cur.Close()
			st := newLogStream(hubs, run, getRun, tt.after, tt.rate, cur)
			rec := httptest.NewRecorder()
			sse, err := startSSE(rec)
			if err != nil {
				t.Fatal(err)
			}
			st.sse = sse
			done := make(chan error, 1)
			go func() { done <- st.serve(context.Background()) }()
			if tt.open {
				for i := tt.lines + 1; i <= tt.lines+tt.live; i++ {
					write(i)
					if i%100 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				finish()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("stream did not end after the run did")
			}
			got := summarize(t, rec.Body.String())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stream (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLogStreamClientLeaves: a stream of a run that goes on returns once
// the client's context ends.
func TestLogStreamClientLeaves(t *testing.T) {
	t.Parallel()
	id := "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f"
	hubs := logs.NewHubs[logs.Line](10)
	hubs.Open(id)
	run := status.Run{ID: id, LogPath: filepath.Join(t.TempDir(), "missing.log"), Status: status.RunRunning}
	cur := logs.NewCursor(run.LogPath)
	defer cur.Close()
	st := newLogStream(hubs, run, func(context.Context) (status.Run, error) { return run, nil }, 0, 100, cur)
	rec := httptest.NewRecorder()
	sse, err := startSSE(rec)
	if err != nil {
		t.Fatal(err)
	}
	st.sse = sse
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.serve(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("serve returned nil for a client that left")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after the client left")
	}
	if h := rec.Header(); h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers %v", h)
	}
}

// TestWindowLimiter: rate items per one-second window, reset by time.
func TestWindowLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &windowLimiter{rate: 100}
	steps := []struct {
		at   time.Duration
		n    int
		want int
	}{
		{0, 60, 60},
		{500 * time.Millisecond, 60, 40},
		{900 * time.Millisecond, 1, 0},
		{time.Second, 30, 30},
		{1900 * time.Millisecond, 100, 70},
		{3 * time.Second, 1000, 100},
	}
	for _, s := range steps {
		if got := l.take(t0.Add(s.at), s.n); got != s.want {
			t.Errorf("take(%d) at %s = %d, want %d", s.n, s.at, got, s.want)
		}
	}
}

// TestSSEEventFraming: ids, names and multi-line data are framed so a
// client gets each value whole.
func TestSSEEventFraming(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	sse, err := startSSE(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := sse.event(7, "", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := sse.event(0, "note", []byte("two\nlines")); err != nil {
		t.Fatal(err)
	}
	want := "retry: 2000\n\nid: 7\ndata: {\"a\":1}\n\nevent: note\ndata: two\ndata: lines\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("stream %q, want %q", got, want)
	}
}

// TestStreamStart: where a stream resumes.
func TestStreamStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, query string
		want                int64
		wantErr             bool
	}{
		{"from the start", "", "", 0, false},
		{"Last-Event-ID", "42", "", 42, false},
		{"Last-Event-ID wins over after", "42", "after=7", 42, false},
		{"after", "", "after=7", 7, false},
		{"negative", "-1", "", 0, true},
		{"not a number", "", "after=x", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
			if tt.header != "" {
				r.Header.Set("Last-Event-ID", tt.header)
			}
			got, err := streamStart(r)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("streamStart = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
