package webui

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// TestServeStream: the follower's deliveries framed as events — lines with
// their numbers as ids, a skipped notice whose id is the last number it
// covers — and the "end" event with the run's final status.
func TestServeStream(t *testing.T) {
	t.Parallel()
	id := "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f"
	path := filepath.Join(t.TempDir(), id+".log")
	w, err := logs.Open(path, logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		if err := w.Write(runtime.LogLine{Time: base, Stream: "stdout", Text: fmt.Sprintf("line %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	code := 3
	run := status.Run{ID: id, LogPath: path, Status: status.RunFailed, ExitCode: &code}
	src := logs.NewFileSource(path)
	defer src.Close()
	rec := httptest.NewRecorder()
	err = serveStream(context.Background(), rec, logs.NewHubs[logs.Line](10), src,
		func(context.Context) (status.Run, error) { return run, nil }, id,
		logs.FollowOptions{After: 1, Rate: 2}, func(l logs.Line) any { return l.Text })
	if err != nil {
		t.Fatal(err)
	}
	var got []sseEvent
	if err := readSSE(strings.NewReader(rec.Body.String()), func(ev sseEvent) bool { got = append(got, ev); return true }); err != nil {
		t.Fatal(err)
	}
	want := []sseEvent{
		{ID: "3", Name: "skipped", Data: `{"skipped":2,"from":2,"to":3}`},
		{ID: "4", Data: `"line 4"`},
		{ID: "5", Data: `"line 5"`},
		{Name: "end", Data: `{"status":"FAILED","exit_code":3,"last":5}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if h := rec.Header(); h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers %v", h)
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
