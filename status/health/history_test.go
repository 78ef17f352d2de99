package health_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status/health"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func probeAt(sec, code int, out string) health.Probe {
	at := t0.Add(time.Duration(sec) * time.Second)
	return health.Probe{Start: at, End: at.Add(10 * time.Millisecond), ExitCode: code, Output: out}
}

func TestObserve(t *testing.T) {
	t.Parallel()
	type reading struct {
		at     int
		state  string
		streak int
		probes []health.Probe
	}
	tests := []struct {
		name        string
		readings    []reading
		wantChanged []bool
		want        health.History
	}{
		{
			name: "a repeated reading changes nothing and probes are kept once",
			readings: []reading{
				{1, health.StateStarting, 0, nil},
				{2, health.StateHealthy, 0, []health.Probe{probeAt(2, 0, "ok")}},
				{3, health.StateHealthy, 0, []health.Probe{probeAt(2, 0, "ok")}},
				{5, health.StateUnhealthy, 2, []health.Probe{probeAt(2, 0, "ok"), probeAt(3, 1, "gone"), probeAt(4, 1, "gone")}},
			},
			wantChanged: []bool{true, true, false, true},
			want: health.History{
				State: health.StateUnhealthy, FailingStreak: 2, UpdatedAt: t0.Add(5 * time.Second),
				Changes: []health.Change{{t0.Add(time.Second), health.StateStarting}, {t0.Add(2 * time.Second), health.StateHealthy}, {t0.Add(5 * time.Second), health.StateUnhealthy}},
				Probes:  []health.Probe{probeAt(2, 0, "ok"), probeAt(3, 1, "gone"), probeAt(4, 1, "gone")},
			},
		},
		{
			name: "a longer streak in the same state is a change",
			readings: []reading{
				{1, health.StateStarting, 1, nil},
				{2, health.StateStarting, 2, nil},
			},
			wantChanged: []bool{true, true},
			want: health.History{
				State: health.StateStarting, FailingStreak: 2, UpdatedAt: t0.Add(2 * time.Second),
				Changes: []health.Change{{t0.Add(time.Second), health.StateStarting}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h health.History
			for i, r := range tt.readings {
				if got := h.Observe(t0.Add(time.Duration(r.at)*time.Second), r.state, r.streak, r.probes); got != tt.wantChanged[i] {
					t.Errorf("reading %d changed = %v, want %v", i, got, tt.wantChanged[i])
				}
			}
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
}

// TestObserveBounds: the oldest probes and changes go, a long output is
// cut.
func TestObserveBounds(t *testing.T) {
	t.Parallel()
	var h health.History
	states := []string{health.StateHealthy, health.StateUnhealthy}
	for i := range 2 * health.MaxChanges {
		h.Observe(t0.Add(time.Duration(i)*time.Second), states[i%2], 0, []health.Probe{probeAt(i, i%2, strings.Repeat("x", health.MaxOutput+1)+strconv.Itoa(i))})
	}
	if len(h.Probes) != health.MaxProbes || len(h.Changes) != health.MaxChanges {
		t.Fatalf("kept %d probes and %d changes, want %d and %d", len(h.Probes), len(h.Changes), health.MaxProbes, health.MaxChanges)
	}
	last, _ := h.LastProbe()
	if want := probeAt(2*health.MaxChanges-1, 1, "").Start; !last.Start.Equal(want) || len(last.Output) != health.MaxOutput {
		t.Errorf("last probe starts %v with %d bytes of output, want the newest (%v) cut to %d", last.Start, len(last.Output), want, health.MaxOutput)
	}
	if want := t0.Add(time.Duration(2*health.MaxChanges-1) * time.Second); !h.Since().Equal(want) {
		t.Errorf("Since = %v, want %v", h.Since(), want)
	}
}

func TestWriteRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, err := health.Path(filepath.Join(dir, "hello", "run-1_metrics.jsonl"), "run-1")
	if err != nil || path != filepath.Join(dir, "hello", "run-1_health.json") {
		t.Fatalf("Path = %q, %v", path, err)
	}
	if _, err := health.Read(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read before any Write: %v, want fs.ErrNotExist", err)
	}
	var h health.History
	h.Observe(t0, health.StateUnhealthy, 3, []health.Probe{probeAt(0, 1, "connection refused\n")})
	if err := health.Write(path, h); err != nil {
		t.Fatal(err)
	}
	h.Observe(t0.Add(time.Second), health.StateHealthy, 0, []health.Probe{probeAt(1, 0, "ok\n")})
	if err := health.Write(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := health.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want the health file alone (no temporary file left)", len(entries))
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := health.Read(path); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a broken file: %v, want a decoding error", err)
	}
	if p, err := health.Path("", "run-1"); p != "" || err != nil {
		t.Errorf("Path without a metrics file = %q, %v; want none", p, err)
	}
	if _, err := health.Path(filepath.Join(dir, "m.jsonl"), "../escape"); err == nil {
		t.Error("Path accepted the run ID ../escape")
	}
	if _, err := health.Read(""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of no path: %v, want fs.ErrNotExist", err)
	}
}
