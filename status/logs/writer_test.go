package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }

func out(i int, text string) runtime.LogLine {
	return runtime.LogLine{Time: at(i), Stream: StreamStdout, Text: text}
}

func mustOpen(t *testing.T, path string, opts Options) *Writer {
	t.Helper()
	w, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func mustWrite(t *testing.T, w *Writer, lines ...runtime.LogLine) {
	t.Helper()
	for _, l := range lines {
		if err := w.Write(l); err != nil {
			t.Fatal(err)
		}
	}
}

func mustRead(t *testing.T, path string) []Line {
	t.Helper()
	got, err := Read(path, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWriterRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p", "r.log")
	hub := NewHub[Line](10)
	sub := hub.Subscribe(0)
	w := mustOpen(t, path, Options{Hub: hub, Now: func() time.Time { return at(99) }})
	mustWrite(t, w,
		out(1, "hello"),
		runtime.LogLine{Time: at(2), Stream: StreamStderr, Text: "  spaced  text  "},
		runtime.LogLine{Stream: StreamSystem, Text: "waiting for dependency installation"},
		out(3, ""),
		out(4, "two\nlines"),
		runtime.LogLine{Time: at(5).In(time.FixedZone("CET", 3600)), Text: "no stream means stdout"},
	)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{1, at(1), "stdout", "hello"},
		{2, at(2), "stderr", "  spaced  text  "},
		{3, at(99), "system", "waiting for dependency installation"},
		{4, at(3), "stdout", ""},
		{5, at(4), "stdout", "two"},
		{6, at(4), "stdout", "lines"},
		{7, at(5), "stdout", "no stream means stdout"},
	}
	if diff := cmp.Diff(want, mustRead(t, path)); diff != "" {
		t.Errorf("stored lines (-want +got):\n%s", diff)
	}
	if w.Lines() != 7 {
		t.Errorf("Lines() = %d, want 7", w.Lines())
	}
	hub.Close()
	var live []Line
	for l := range sub.C() {
		live = append(live, l)
	}
	if diff := cmp.Diff(want, live); diff != "" {
		t.Errorf("published lines (-want +got):\n%s", diff)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if first := strings.SplitN(string(raw), "\n", 2)[0]; first != "2026-11-27T05:00:00.001000000Z stdout hello" {
		t.Errorf("first stored line = %q", first)
	}
	if w.Bytes() != int64(len(raw)) {
		t.Errorf("Bytes() = %d, file has %d", w.Bytes(), len(raw))
	}
}

func TestWriterRejects(t *testing.T) {
	t.Parallel()
	w := mustOpen(t, filepath.Join(t.TempDir(), "r.log"), Options{})
	if err := w.Write(runtime.LogLine{Stream: "stdin", Text: "x"}); !errors.Is(err, ErrBadStream) {
		t.Errorf("bad stream: %v, want ErrBadStream", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(out(1, "late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
}

func TestWriterOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, path string }{
		{"parent is a file", filepath.Join(file, "r.log")},
		{"path is a directory", dir},
	} {
		if w, err := Open(tt.path, Options{}); err == nil {
			w.Close()
			t.Errorf("%s: Open succeeded", tt.name)
		}
	}
}

func TestWriterMasksBeforeStoreAndHub(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.log")
	hub := NewHub[Line](10)
	sub := hub.Subscribe(0)
	w := mustOpen(t, path, Options{Masker: NewMasker([]string{"topsecret", "line-one-of-key\nline-two-of-key"}), Hub: hub})
	mustWrite(t, w,
		out(1, "token topsecret used"),
		out(2, "key: line-one-of-key\nline-two-of-key"),
		out(3, "just line-two-of-key"),
	)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	hub.Close()
	raw, _ := os.ReadFile(path)
	for _, leak := range []string{"topsecret", "line-one", "line-two"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("file leaks %q:\n%s", leak, raw)
		}
	}
	var texts []string
	for l := range sub.C() {
		texts = append(texts, l.Text)
	}
	want := []string{"token *** used", "key: ***", "just ***"}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("hub lines (-want +got):\n%s", diff)
	}
}

func TestWriterLimit(t *testing.T) {
	t.Parallel()
	lineLen := int64(len(appendLine(nil, at(0), StreamStdout, "line 00")))
	tests := []struct {
		name       string
		max        int64
		lines      int
		wantStored int // output lines stored before the marker
		wantMarker bool
	}{
		{"unlimited stores all", 0, 20, 20, false},
		{"under the limit stores all", 21 * lineLen, 20, 20, false},
		{"exactly at the limit stores all", 20 * lineLen, 20, 20, false},
		{"one byte short stops before the last", 20*lineLen - 1, 20, 19, true},
		{"limit mid-way", 5*lineLen + 3, 20, 5, true},
		{"limit smaller than one line", 1, 20, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "r.log")
			hub := NewHub[Line](100)
			sub := hub.Subscribe(0)
			w := mustOpen(t, path, Options{MaxBytes: tt.max, Hub: hub})
			for i := range tt.lines {
				mustWrite(t, w, out(i, fmt.Sprintf("line %02d", i)))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			hub.Close()
			got := mustRead(t, path)
			markers, stored := 0, 0
			for _, l := range got {
				if l.Stream == StreamSystem && strings.HasPrefix(l.Text, LimitMarkerPrefix) {
					markers++
					if !strings.Contains(l.Text, "the run goes on") {
						t.Errorf("marker %q does not say the run goes on", l.Text)
					}
					continue
				}
				stored++
			}
			if stored != tt.wantStored {
				t.Errorf("stored %d output lines, want %d", stored, tt.wantStored)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantMarker]; markers != want {
				t.Errorf("%d marker lines, want %d", markers, want)
			}
			if tt.wantMarker && got[len(got)-1].Stream != StreamSystem {
				t.Errorf("last stored line %+v is not the marker", got[len(got)-1])
			}
			wantLines := int64(tt.lines + markers)
			if w.Lines() != wantLines {
				t.Errorf("Lines() = %d, want %d (dropped lines still counted)", w.Lines(), wantLines)
			}
			if w.Limited() != tt.wantMarker {
				t.Errorf("Limited() = %v", w.Limited())
			}
			n := 0
			for l := range sub.C() {
				n++
				if l.N != int64(n) {
					t.Fatalf("hub line %d numbered %d", n, l.N)
				}
			}
			if int64(n) != wantLines {
				t.Errorf("hub got %d lines, want %d", n, wantLines)
			}
		})
	}
}

func TestWriterReopenContinues(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p", "r.log")
	w := mustOpen(t, path, Options{})
	mustWrite(t, w, out(1, "one"), out(2, "two"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash mid-write leaves a partial line; reopening drops it.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("2026-11-27T05:00:00.003000000Z stdout thr"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	hub := NewHub[Line](10)
	sub := hub.Subscribe(0)
	w2 := mustOpen(t, path, Options{Hub: hub})
	if w2.Lines() != 2 {
		t.Fatalf("reopened Lines() = %d, want 2", w2.Lines())
	}
	mustWrite(t, w2, out(3, "three"))
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	hub.Close()
	want := []Line{{1, at(1), "stdout", "one"}, {2, at(2), "stdout", "two"}, {3, at(3), "stdout", "three"}}
	if diff := cmp.Diff(want, mustRead(t, path)); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	if l := <-sub.C(); l.N != 3 {
		t.Errorf("first published line after reopen numbered %d, want 3", l.N)
	}
}

func TestWriterMarkerOnceAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.log")
	for round := range 3 {
		w := mustOpen(t, path, Options{MaxBytes: 100})
		for i := range 5 {
			mustWrite(t, w, out(round*10+i, "some output line"))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !w.Limited() {
			t.Fatalf("round %d: not limited", round)
		}
	}
	markers := 0
	for _, l := range mustRead(t, path) {
		if l.Stream == StreamSystem {
			markers++
		}
	}
	if markers != 1 {
		t.Errorf("%d markers after three sessions, want 1", markers)
	}
}

func TestWriterFlushKeepsFileAheadOfHub(t *testing.T) {
	t.Parallel()
	// Any line the hub no longer replays must be readable from the file
	// while the run is still writing.
	path := filepath.Join(t.TempDir(), "r.log")
	const keep = 8
	hub := NewHub[Line](keep)
	w := mustOpen(t, path, Options{Hub: hub})
	for i := range 100 {
		mustWrite(t, w, out(i, "x"))
		sub := hub.Subscribe(0)
		first := (<-sub.C()).N
		sub.Close()
		stored, err := Read(path, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(stored)) < first-1 {
			t.Fatalf("after line %d: hub replays from %d but the file has only %d lines", i+1, first, len(stored))
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	path := filepath.Join(b.TempDir(), "r.log")
	hub := NewHub[Line](1000)
	sub := hub.Subscribe(0)
	done := make(chan int)
	go func() {
		n := 0
		for range sub.C() {
			n++
		}
		done <- n
	}()
	w, err := Open(path, Options{Masker: NewMasker(benchSecrets), Hub: hub, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	line := runtime.LogLine{Time: t0, Stream: StreamStdout, Text: benchLine}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		if err := w.Write(line); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	hub.Close()
	<-done
	if sub.Dropped() {
		b.Log("the reader was cut off (it fell behind)")
	}
}
