package docker

import (
	"context"
	"slices"

	"github.com/docker/docker/api/types/container"

	"github.com/fastflow-dev/fastflow/runtime"
)

var _ runtime.HealthReporter = (*Client)(nil)

// Health reads the container's health from an inspect: the image's
// HEALTHCHECK (or the spec's health check) as the daemon ran it.
func (c *Client) Health(ctx context.Context, id string) (runtime.Health, error) {
	st, err := c.inspect(ctx, id)
	if err != nil {
		return runtime.Health{}, err
	}
	return health(st.Health), nil
}

func health(h *container.Health) runtime.Health {
	if h == nil || h.Status == "" || h.Status == container.NoHealthcheck {
		return runtime.Health{State: runtime.HealthNone}
	}
	out := runtime.Health{State: runtime.HealthState(h.Status), FailingStreak: h.FailingStreak}
	for _, p := range h.Log {
		if p == nil {
			continue
		}
		out.Probes = append(out.Probes, runtime.HealthProbe{Start: p.Start, End: p.End, ExitCode: p.ExitCode, Output: p.Output})
	}
	return out
}

// healthConfig is the create request's health check for spec, nil to keep
// the image's. The exec form: the spec's command runs without a shell.
func healthConfig(h *runtime.HealthCheck) *container.HealthConfig {
	if h == nil {
		return nil
	}
	return &container.HealthConfig{
		Test:        append([]string{"CMD"}, slices.Clone(h.Command)...),
		Interval:    h.Interval,
		Timeout:     h.Timeout,
		StartPeriod: h.StartPeriod,
		Retries:     h.Retries,
	}
}
