package runtime

import (
	"context"
	"errors"
	"time"
)

// HealthState is what a container's health check last concluded.
type HealthState string

// The health states a HealthReporter reports. They are Docker's words;
// a Kubernetes backend maps a pod's readiness and liveness onto them.
const (
	// HealthNone: the container has no health check.
	HealthNone HealthState = "none"
	// HealthStarting: checked, but not yet passed and not yet failed often
	// enough to count (or still in its start period).
	HealthStarting HealthState = "starting"
	HealthHealthy  HealthState = "healthy"
	// HealthUnhealthy: the check failed Retries times in a row.
	HealthUnhealthy HealthState = "unhealthy"
)

// Health is a container's health as its backend last saw it.
type Health struct {
	State HealthState
	// FailingStreak counts the failed probes since the last one passed.
	FailingStreak int
	// Probes are the latest probes the backend keeps, oldest first
	// (Docker keeps five).
	Probes []HealthProbe
}

// HealthProbe is one run of the health check.
type HealthProbe struct {
	Start time.Time
	End   time.Time
	// ExitCode is 0 for a probe that passed. Docker reports -1 for a probe
	// that could not run or timed out.
	ExitCode int
	// Output is what the probe printed, stdout and stderr together, cut
	// by the backend (Docker keeps 4 KiB).
	Output string
}

// HealthCheck is a health check for one run, in place of the one the
// image defines (its HEALTHCHECK). A backend that cannot run a probe
// command refuses a spec that has one. Zero durations and Retries take the
// backend's defaults (Docker: 30 s interval and timeout, no start period,
// 3 retries).
type HealthCheck struct {
	// Command runs inside the container, without a shell; exit code 0 is
	// healthy.
	Command     []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

func (h *HealthCheck) validate() error {
	switch {
	case h == nil:
		return nil
	case len(h.Command) == 0:
		return errors.New("health check without a command")
	case h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.Retries < 0:
		return errors.New("negative health check setting")
	}
	return nil
}

// HealthReporter is implemented by backends that can tell a container's
// health: whether the health check its image (or RunSpec.HealthCheck)
// defines passes. The operator uses it when the Runtime has it (a type
// assertion) and stops a run whose container stays unhealthy.
//
// Health is safe for concurrent use, at any time after Start; it reads
// and never changes the container. A container without a health check
// reports HealthNone and no probes. Once the container has exited a
// backend may report its last state or HealthNone. An unknown ID returns an
// error wrapping ErrNotFound, a backend that cannot be reached one
// wrapping ErrUnavailable.
type HealthReporter interface {
	Health(ctx context.Context, id string) (Health, error)
}
