package fake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

var _ runtime.HealthReporter = (*Runtime)(nil)

// MethodHealth is the method of runtime.HealthReporter.
const MethodHealth Method = "Health"

// ProbeCommand is the first word of a health check command FileProbe made.
const ProbeCommand = "fastflow-fake-probe"

// The defaults of a health check that leaves a setting zero, and what the
// fake keeps of its probes: Docker's.
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeRetries  = 3
	keptProbes           = 5
	maxProbeOutput       = 4096
)

// FileProbe returns a health check command the fake runs: it prints the
// file at path in the container (as Cat does) and passes while the file's
// first line is healthy. A program turns its container healthy or
// unhealthy by writing that file with Write. It is the fake's only probe
// command; Start refuses a health check with any other.
func FileProbe(path, healthy string) []string {
	return []string{ProbeCommand, path, healthy}
}

// probe is a container's health check as the fake runs it. Guarded by
// daemon.mu.
type probe struct {
	path, healthy string
	interval      time.Duration
	startPeriod   time.Duration
	retries       int
	state         runtime.HealthState
	streak        int
	probes        []runtime.HealthProbe
}

// healthCheck returns the probe of spec: its own health check, else its
// image's from Config.HealthChecks, nil for neither.
func (d *daemon) healthCheck(spec runtime.RunSpec) (*probe, error) {
	hc := spec.HealthCheck
	if hc == nil {
		if h, ok := d.healthChecks[spec.Image]; ok {
			hc = &h
		}
	}
	if hc == nil {
		return nil, nil
	}
	if len(hc.Command) != 3 || hc.Command[0] != ProbeCommand || hc.Command[1] == "" {
		return nil, fmt.Errorf("%w: health check %q is not a FileProbe command", ErrInvalidSpec, hc.Command)
	}
	p := &probe{
		path: hc.Command[1], healthy: hc.Command[2],
		interval: hc.Interval, startPeriod: hc.StartPeriod, retries: hc.Retries,
		state: runtime.HealthStarting,
	}
	if p.interval <= 0 {
		p.interval = defaultProbeInterval
	}
	if p.retries <= 0 {
		p.retries = defaultProbeRetries
	}
	return p, nil
}

// scheduleProbe runs c's next probe one interval from now, as long as c
// runs. Called with d.mu held.
func (d *daemon) scheduleProbe(c *container) {
	c.cancelProbe = d.after(c.probe.interval, func() {
		c.cancelProbe = nil
		if c.state != runtime.StateRunning {
			return
		}
		d.runProbe(c)
		d.scheduleProbe(c)
		d.notify()
	})
}

// runProbe runs c's probe once and updates its health as Docker does: a
// pass makes it healthy; a failure counts toward Retries unless the
// container is still starting within its start period. Called with d.mu
// held.
func (d *daemon) runProbe(c *container) {
	p := c.probe
	now := d.now()
	res := runtime.HealthProbe{Start: now, End: now}
	text, err := c.read(p.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		res.ExitCode, res.Output = 1, fmt.Sprintf("cat: can't open '%s': No such file or directory\n", p.path)
	case err != nil:
		res.ExitCode, res.Output = 1, fmt.Sprintf("cat: can't open '%s': %v\n", p.path, err)
	default:
		first, _, _ := strings.Cut(text, "\n")
		res.Output = text
		if first != p.healthy {
			res.ExitCode = 1
		}
	}
	if len(res.Output) > maxProbeOutput {
		res.Output = res.Output[:maxProbeOutput]
	}
	p.probes = append(p.probes, res)
	if len(p.probes) > keptProbes {
		p.probes = slices.Delete(p.probes, 0, len(p.probes)-keptProbes)
	}
	switch {
	case res.ExitCode == 0:
		p.streak, p.state = 0, runtime.HealthHealthy
	case p.state == runtime.HealthStarting && now.Sub(c.started) < p.startPeriod:
	default:
		p.streak++
		if p.streak >= p.retries {
			p.state = runtime.HealthUnhealthy
		}
	}
}

// Health reports the container's health check as it last ran: HealthNone
// for a container without one. An exited container keeps its last state.
func (r *Runtime) Health(ctx context.Context, id string) (runtime.Health, error) {
	if err := r.begin(ctx, MethodHealth, id); err != nil {
		return runtime.Health{}, err
	}
	d := r.d
	defer d.mu.Unlock()
	c := d.lookup(id)
	if c == nil {
		return runtime.Health{}, callError(MethodHealth, id, runtime.ErrNotFound)
	}
	if c.probe == nil {
		return runtime.Health{State: runtime.HealthNone}, nil
	}
	return runtime.Health{State: c.probe.state, FailingStreak: c.probe.streak, Probes: slices.Clone(c.probe.probes)}, nil
}
