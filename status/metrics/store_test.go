package metrics

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/google/go-cmp/cmp"
)

func TestPath(t *testing.T) {
	t.Parallel()
	got, err := Path("/logs", "etl", "0193")
	if err != nil || got != filepath.Join("/logs", "etl", "0193_metrics.jsonl") {
		t.Errorf("Path = %q, %v", got, err)
	}
	for _, bad := range [][2]string{{"..", "r"}, {"p", "../x"}, {"a/b", "r"}, {"p", ""}} {
		if _, err := Path("/logs", bad[0], bad[1]); !errors.Is(err, logs.ErrBadName) {
			t.Errorf("Path(%q, %q): %v, want logs.ErrBadName", bad[0], bad[1], err)
		}
	}
}

func TestWriterAndReadAll(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p", "r_metrics.jsonl")
	hub := logs.NewHub[Point](10)
	sub := hub.Subscribe(0)
	pt := func(i int) Point {
		return Point{Timestamp: t0.Add(time.Duration(i) * time.Second).In(time.FixedZone("X", 7200)),
			CPUPercent: float64(i) * 10.5, RAMMB: 128.5, RAMLimitMB: 512, SoftLimitExceeded: i == 2}
	}
	w, err := Open(path, Options{Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Write(pt(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(pt(9)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}

	// The JSON names are the API's.
	raw, _ := os.ReadFile(path)
	first := strings.SplitN(string(raw), "\n", 2)[0]
	wantJSON := `{"timestamp":"2026-11-27T05:00:00Z","cpu_percent":0,"ram_mb":128.5,"ram_limit_mb":512,"soft_limit_exceeded":false,"throttled":false}`
	if first != wantJSON {
		t.Errorf("stored line\n got %s\nwant %s", first, wantJSON)
	}

	// A crash leaves half a line; reopening drops it and numbering goes on.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"timestamp":"2026-11-27T05:0`)
	f.Close()
	w2, err := Open(path, Options{Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	if w2.Points() != 3 {
		t.Errorf("reopened Points() = %d, want 3", w2.Points())
	}
	if err := w2.Write(pt(3)); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	hub.Close()

	got, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []Point
	for i := range 4 {
		p := pt(i)
		p.Timestamp = p.Timestamp.UTC()
		p.N = int64(i + 1)
		want = append(want, p)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadAll (-want +got):\n%s", diff)
	}
	var live []Point
	for p := range sub.C() {
		live = append(live, p)
	}
	if diff := cmp.Diff(want, live); diff != "" {
		t.Errorf("hub (-want +got):\n%s", diff)
	}
}

func TestReadAllErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := ReadAll(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"cpu_percent\":1}\nnot json\n"), 0o600)
	if _, err := ReadAll(bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
	var syn *json.SyntaxError
	if _, err := ReadAll(bad); !errors.As(err, &syn) {
		t.Errorf("bad line error %v does not wrap the JSON error", err)
	}
}
