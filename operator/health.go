package operator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status/health"
)

// healthEvery is how often a run's health is read: a few times per
// HEALTH_GRACE, so a stop comes at most a quarter of it late, and at
// least every 5 s for the history (Docker probes every 30 s unless the
// image says otherwise, and keeps the last five probes).
func healthEvery(grace time.Duration) time.Duration {
	if grace <= 0 {
		return 5 * time.Second
	}
	return min(max(grace/4, 50*time.Millisecond), 5*time.Second)
}

// startHealthWatch follows the health check of the run's container in a
// goroutine of its own, so a slow health read never holds up the log, the
// timeout or a stop. It returns the function that stops it and waits for
// it; without a HealthReporter it starts nothing.
func (r *runner) startHealthWatch(ctx context.Context) (stop func()) {
	hr, ok := r.o.rt.(runtime.HealthReporter)
	if !ok {
		return func() {}
	}
	// What the goroutine needs of the runner is read here, on the
	// runner's own goroutine.
	id := r.containerID
	path, err := health.Path(r.run.MetricsPath, r.run.ID)
	if err != nil {
		r.log.Warn("health history", "err", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.watchHealth(ctx, hr, id, path) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// watchHealth reads the health of container id until ctx ends, the
// container is gone, or it turns out to have no health check. Every change
// goes to the health file at path ("" keeps none). A container that stays unhealthy for HEALTH_GRACE
// from the first reading that saw it so is stopped through the run's stop
// request, as a cancel is; a run re-attached after a restart gets a full
// grace from then on, and its history goes on in the same file.
func (r *runner) watchHealth(ctx context.Context, hr runtime.HealthReporter, id, path string) {
	o := r.o
	grace := o.cfg.HealthGrace
	hist, err := health.Read(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("read health history; starting a new one", "err", err)
	}
	var unhealthySince time.Time
	for first := true; ; first = false {
		if !first && !sleep(ctx, o.clk, healthEvery(grace)) {
			return
		}
		hctx, cancel := withTimeout(ctx, o.clk, 10*time.Second)
		h, err := hr.Health(hctx, id)
		cancel()
		switch {
		case ctx.Err() != nil, errors.Is(err, runtime.ErrNotFound):
			return
		case err != nil:
			// The engine is away; the run's watch waits for it and
			// re-attaches. The health is read again on the next round.
			continue
		case h.State == runtime.HealthNone && len(hist.Changes) == 0:
			return // no health check: nothing to watch
		}
		now := o.now()
		if hist.Observe(now, string(h.State), h.FailingStreak, probesOf(h.Probes)) && path != "" {
			if err := health.Write(path, hist); err != nil {
				r.log.Warn("write health history", "err", err)
			}
		}
		if h.State != runtime.HealthUnhealthy {
			if !unhealthySince.IsZero() {
				r.log.Info("container is no longer unhealthy", "health", h.State)
			}
			unhealthySince = time.Time{}
			continue
		}
		if unhealthySince.IsZero() {
			unhealthySince = now
			r.log.Warn("container is unhealthy", "failing_streak", h.FailingStreak, "grace", grace)
		}
		if grace <= 0 || now.Sub(unhealthySince) < grace {
			continue
		}
		r.log.Warn("container unhealthy for longer than HEALTH_GRACE; stopping it", "grace", grace)
		r.requestStop(stopRequest{reason: endUnhealthy, message: unhealthyMessage(grace, hist)})
		return
	}
}

func probesOf(ps []runtime.HealthProbe) []health.Probe {
	out := make([]health.Probe, len(ps))
	for i, p := range ps {
		out[i] = health.Probe{Start: p.Start, End: p.End, ExitCode: p.ExitCode, Output: p.Output}
	}
	return out
}

// maxHealthOutput bounds the probe output quoted in a run's message; the
// health history keeps it whole.
const maxHealthOutput = 500

// unhealthyMessage is the run's message when HEALTH_GRACE stopped it: the
// grace and what the last probe said, on one line.
func unhealthyMessage(grace time.Duration, hist health.History) string {
	msg := fmt.Sprintf("unhealthy for longer than HEALTH_GRACE=%s", formatSeconds(grace))
	p, ok := hist.LastProbe()
	if !ok {
		return msg + "; no health check output was kept"
	}
	var lines []string
	for l := range strings.Lines(p.Output) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	out := strings.Join(lines, " / ")
	if len(out) > maxHealthOutput {
		cut := maxHealthOutput
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	if out == "" {
		out = "(no output)"
	}
	return fmt.Sprintf("%s; last health check (exit %d): %s", msg, p.ExitCode, out)
}
