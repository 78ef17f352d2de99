package runtimetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Probe is a health check the suite gives its containers, in abstract
// form as its Programs are: it prints the file at Path and passes while
// the file's first line is Healthy. A Program turns its container healthy
// or unhealthy by writing that file (Write).
type Probe struct {
	Path    string
	Healthy string
}

// ShellProbe renders p as an exec-form command for an image with a POSIX
// shell, cat and head.
func ShellProbe(p Probe) []string {
	return []string{"sh", "-c", "cat " + squote(p.Path) + `; [ "$(head -n 1 ` + squote(p.Path) + `)" = ` + squote(p.Healthy) + " ]"}
}

// testHealth: a container without a health check reports none; one whose
// probe passes turns healthy, and unhealthy once the probe has failed
// Retries times in a row, with the probes' exit codes and output.
func (s *suite) testHealth(t *testing.T) {
	hr := s.rt.(runtime.HealthReporter)

	plain := s.start(t, s.rt, s.spec(t, Program{Forever()}))
	h, err := hr.Health(ctxFor(t), plain)
	if err != nil {
		t.Fatalf("Health of a container without a health check: %v", err)
	}
	if h.State != runtime.HealthNone || len(h.Probes) != 0 {
		t.Errorf("Health without a health check = %+v, want none and no probes", h)
	}

	const (
		path   = "/fastflow-health"
		broken = "broken: the database went away"
	)
	spec := s.spec(t, Program{Write(path, "ok"), Sleep(3 * time.Second), Write(path, broken), Forever()})
	spec.HealthCheck = &runtime.HealthCheck{
		Command:  s.cfg.Probe(t, Probe{Path: path, Healthy: "ok"}),
		Interval: 200 * time.Millisecond,
		Timeout:  5 * time.Second,
		Retries:  2,
	}
	id := s.start(t, s.rt, spec)
	var seen []runtime.HealthState
	ctx := ctxFor(t)
	for {
		h, err = hr.Health(ctx, id)
		if err != nil {
			t.Fatalf("Health after %v: %v", seen, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != h.State {
			seen = append(seen, h.State)
		}
		if h.State == runtime.HealthUnhealthy {
			break
		}
		if h.State == runtime.HealthNone {
			t.Fatalf("Health = %+v for a container with a health check", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if i := slices.Index(seen, runtime.HealthHealthy); i < 0 || (i > 0 && seen[i-1] != runtime.HealthStarting) {
		t.Errorf("health went %v, want (starting,) healthy, unhealthy", seen)
	}
	if h.FailingStreak < 2 {
		t.Errorf("unhealthy with a failing streak of %d, want at least the 2 retries", h.FailingStreak)
	}
	if len(h.Probes) < 2 {
		t.Fatalf("unhealthy with %d probes kept, want at least 2: %+v", len(h.Probes), h)
	}
	last := h.Probes[len(h.Probes)-1]
	if last.ExitCode == 0 || !strings.Contains(last.Output, broken) || last.Start.IsZero() || last.End.Before(last.Start) {
		t.Errorf("last probe %+v, want a failure printing %q with its times", last, broken)
	}
	for i := 1; i < len(h.Probes); i++ {
		if h.Probes[i].Start.Before(h.Probes[i-1].Start) {
			t.Errorf("probes out of order: %+v", h.Probes)
		}
	}

	if _, err := hr.Health(ctxFor(t), "no-such-container-"+randomID()); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Health of an unknown ID: %v, want ErrNotFound", err)
	}
}
