package health

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fastflow-dev/fastflow/status/logs"
)

// How much of a run's health the file keeps: a run of days with a probe
// every 30 s changes state rarely, but probes without end.
const (
	MaxProbes  = 20
	MaxChanges = 100
	// MaxOutput bounds one probe's stored output (Docker keeps 4 KiB).
	MaxOutput = 4096
)

// fileSuffix names a run's health file beside its metrics file.
const fileSuffix = "_health.json"

// The states a health check reports, as the runtime names them.
const (
	StateNone      = "none"
	StateStarting  = "starting"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
)

// History is what a run's health file holds.
type History struct {
	// State and FailingStreak are the latest reading.
	State         string `json:"state"`
	FailingStreak int    `json:"failing_streak"`
	// UpdatedAt is when the history last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// Changes are the state changes, oldest first; the first is the first
	// state seen.
	Changes []Change `json:"changes"`
	// Probes are the latest probes, oldest first.
	Probes []Probe `json:"probes"`
}

// Change is the health check reaching State at At.
type Change struct {
	At    time.Time `json:"at"`
	State string    `json:"state"`
}

// Probe is one run of the health check.
type Probe struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output"`
}

// Observe folds one reading taken at into h: a state that differs from
// the last becomes a change, probes that started after the last one kept
// are added (the runtime reports its latest few on every reading), and
// the oldest beyond MaxProbes and MaxChanges go. It reports whether h
// changed.
func (h *History) Observe(at time.Time, state string, streak int, probes []Probe) bool {
	changed := false
	if len(h.Changes) == 0 || h.State != state {
		h.Changes = append(h.Changes, Change{At: at.UTC(), State: state})
		changed = true
	}
	if h.State != state || h.FailingStreak != streak {
		h.State, h.FailingStreak = state, streak
		changed = true
	}
	for _, p := range probes {
		if n := len(h.Probes); n > 0 && !p.Start.After(h.Probes[n-1].Start) {
			continue
		}
		if len(p.Output) > MaxOutput {
			p.Output = p.Output[:MaxOutput]
		}
		p.Start, p.End = p.Start.UTC(), p.End.UTC()
		h.Probes = append(h.Probes, p)
		changed = true
	}
	if n := len(h.Probes); n > MaxProbes {
		h.Probes = slices.Delete(h.Probes, 0, n-MaxProbes)
	}
	if n := len(h.Changes); n > MaxChanges {
		h.Changes = slices.Delete(h.Changes, 0, n-MaxChanges)
	}
	if changed {
		h.UpdatedAt = at.UTC()
	}
	return changed
}

// LastProbe returns the latest probe, false when there is none.
func (h History) LastProbe() (Probe, bool) {
	if len(h.Probes) == 0 {
		return Probe{}, false
	}
	return h.Probes[len(h.Probes)-1], true
}

// Since returns when the current state was reached.
func (h History) Since() time.Time {
	if len(h.Changes) == 0 {
		return time.Time{}
	}
	return h.Changes[len(h.Changes)-1].At
}

// Path returns the health file of a run whose metrics file is at
// metricsPath: <run_id>_health.json in the same folder. Empty when the run
// has no metrics file (retention removed it, with this one).
func Path(metricsPath, runID string) (string, error) {
	if metricsPath == "" {
		return "", nil
	}
	if err := logs.CheckName(runID); err != nil {
		return "", fmt.Errorf("health file: run id: %w", err)
	}
	return filepath.Join(filepath.Dir(metricsPath), runID+fileSuffix), nil
}

// Write replaces the file at path with h, atomically: a reader sees the
// old history or the new one, never half of one.
func Write(path string, h History) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode health history: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create health dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".health-*.tmp")
	if err != nil {
		return fmt.Errorf("write health history: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o640)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write health history %s: %w", path, err)
	}
	return nil
}

// Read returns the history at path. A run without one (its container had
// no health check, or it never started) gives an error wrapping
// fs.ErrNotExist.
func Read(path string) (History, error) {
	if path == "" {
		return History{}, fmt.Errorf("read health history: %w", fs.ErrNotExist)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return History{}, fmt.Errorf("read health history: %w", err)
	}
	var h History
	if err := json.Unmarshal(b, &h); err != nil {
		return History{}, fmt.Errorf("read health history %s: %w", path, err)
	}
	return h, nil
}
