package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// runner owns one run from the moment it holds a slot to its final status:
// it waits for the pipeline's warm-up, starts the container (or re-attaches
// to one found at startup), stores the output and the samples, enforces the
// timeout, the stall check and HEALTH_GRACE, carries out stop requests, classifies the
// exit, stores the outcome, counts it once, queues a retry and removes the
// container. It is the only writer of its run's record while it lives, and
// every goroutine it starts has returned when live does.
type runner struct {
	o        *Operator
	log      *slog.Logger
	run      status.Run
	pipeline repo.Pipeline
	// env is what the container gets besides the wrapper's own variables:
	// default_env, secrets, parameters and the request's env, merged.
	env map[string]string
	// secrets are the secret values the log masks.
	secrets []string

	// containerID is set when re-attaching to a container found at
	// startup; last is the last stored line then, to resume after.
	containerID string
	last        runtime.LogLine

	stopOnce sync.Once
	// stopped is closed by the first stop request; req says why.
	stopped chan struct{}
	req     stopRequest
}

// stopRequest is the operator's reason to end a run before it exits by
// itself. message, when set, replaces the reason's own status message.
type stopRequest struct {
	reason  endReason
	message string
}

func (o *Operator) newRunner(run status.Run, p repo.Pipeline, env map[string]string, secrets []string) *runner {
	return &runner{
		o: o, log: o.log.With("run", run.ID, "pipeline", run.Pipeline),
		run: run, pipeline: p, env: env, secrets: secrets,
		stopped: make(chan struct{}),
	}
}

// requestStop asks the runner to stop its run; only the first request
// counts, later ones are no-ops. Safe from any goroutine, at any time.
func (r *runner) requestStop(req stopRequest) {
	r.stopOnce.Do(func() {
		r.req = req
		close(r.stopped)
	})
}

// stopReason is the pending stop request, or endNatural.
func (r *runner) stopReason() stopRequest {
	select {
	case <-r.stopped:
		return r.req
	default:
		return stopRequest{reason: endNatural}
	}
}

// live runs the run to its end. ctx is the operator's run context: when it
// ends (shutdown with SHUTDOWN_POLICY=detach) live returns at once and
// leaves the container running for the next start to re-attach.
func (r *runner) live(ctx context.Context) {
	o := r.o
	hub := o.logHubs.Open(r.run.ID)
	defer o.logHubs.Close(r.run.ID)
	masker := logs.NewMasker(r.secrets)
	w, err := logs.Open(r.run.LogPath, logs.Options{MaxBytes: o.cfg.LogMaxBytes, Masker: masker, Hub: hub, Now: o.now})
	if err != nil {
		r.finish(ctx, outcome{status: status.RunFailed, errorType: status.ErrorDocker, message: "open log file: " + err.Error()})
		return
	}
	defer w.Close()
	note := func(text string) {
		_ = w.Write(runtime.LogLine{Time: o.now(), Stream: logs.StreamSystem, Text: text})
	}

	if r.containerID == "" && !r.start(ctx, note) {
		return
	}

	mw, err := metrics.Open(r.run.MetricsPath, metrics.Options{Hub: o.metricHubs.Open(r.run.ID)})
	if err != nil {
		r.log.Error("open metrics file", "err", err)
	} else {
		defer mw.Close()
	}
	defer o.metricHubs.Close(r.run.ID)
	calc := metrics.NewCalculator(metrics.Limits{
		CPUSoft:      r.pipeline.Spec.CPUSoftLimit,
		CPUHard:      r.pipeline.Spec.CPUHardLimit,
		MemSoftBytes: int64(r.pipeline.Spec.MemSoftLimit),
	})
	var mk markers
	tr := &transcript{w: w, masker: masker, mk: &mk, last: r.last, log: r.log}
	sample := func(s runtime.Sample) {
		p := calc.Add(s)
		if mw != nil {
			if err := mw.Write(p); err != nil {
				r.log.Warn("write metrics", "err", err)
			}
		}
	}

	// The writer buffers; readers of the file (the API, a tail) should lag
	// the live hub by half a second at most.
	flushCtx, stopFlush := context.WithCancel(ctx)
	var flusher sync.WaitGroup
	flusher.Go(func() { flushEvery(flushCtx, w, 500*time.Millisecond, r.log) })
	res, detached := r.watch(ctx, tr, sample, note)
	stopFlush()
	flusher.Wait()
	if detached {
		r.log.Info("detached from running container; the next start re-attaches it")
		return
	}
	if fin := res.exit.FinishedAt; tr.outage && tr.incomplete == "" && res.err == nil && !fin.IsZero() && fin.Before(tr.backAt) {
		// The container ended while the engine was away: what it printed
		// after the engine went (Docker: while dockerd was dead) was
		// never read and is not in the engine's copy either.
		tr.incomplete = fmt.Sprintf("the container ended while the container engine was away (%s to %s); lines it printed meanwhile may be missing",
			tr.outageFrom.Format(time.RFC3339), tr.backAt.Format(time.RFC3339))
	}
	if tr.incomplete != "" {
		note(logs.LostMarkerPrefix + tr.incomplete)
	} else if lost, _ := w.Lost(); lost > 0 {
		// The Writer stores its count of lost lines before this one, if
		// the disk takes it now.
		note("the run ended; lines are missing from this log")
	}
	if err := w.Close(); err != nil {
		r.log.Error("close log", "err", err)
	}
	if lost, err := w.Lost(); lost > 0 {
		tr.incomplete = fmt.Sprintf("%d lines could not be stored (%v)", lost, err)
	}

	req := r.stopReason()
	timeout := o.PolicyFor(r.pipeline.Spec).Timeout
	memLimit := int64(r.pipeline.Spec.MemHardLimit)
	var out outcome
	switch {
	case res.err != nil && req.reason != endNatural:
		// The operator had decided to end the run: whatever the runtime
		// said afterwards, the outcome is the operator's.
		out = classify(req.reason, runtime.ExitStatus{}, "", memLimit, formatSeconds(timeout))
		out.message += "; the container could not be seen to stop: " + firstLine(res.err.Error())
	case errors.Is(res.err, runtime.ErrNotFound):
		out = outcome{status: status.RunInterrupted, message: "interrupted: its container vanished (removed outside Fast-Flow)"}
	case res.err != nil:
		out = outcome{status: status.RunInterrupted, message: "interrupted: the container runtime failed: " + firstLine(res.err.Error())}
	case req.reason == endNatural && r.vanished(ctx, res.exit):
		out = outcome{status: status.RunInterrupted, message: "interrupted: its container vanished (removed outside Fast-Flow)"}
	case req.reason == endNatural && r.engineEnded(ctx, res.exit, tr.outage):
		out = outcome{status: status.RunInterrupted, message: fmt.Sprintf("interrupted: the container engine stopped the container (exit %d) as it went down or restarted", res.exit.Code)}
		code := res.exit.Code
		r.run.ExitCode = &code
	default:
		out = classify(req.reason, res.exit, mk.setupFailed, memLimit, formatSeconds(timeout))
		code := res.exit.Code
		r.run.ExitCode = &code
		if !res.exit.FinishedAt.IsZero() {
			r.run.FinishedAt = res.exit.FinishedAt.UTC()
		}
	}
	if req.message != "" {
		out.message = req.message
	}
	if tr.incomplete != "" {
		r.run.LogIncomplete = true
		out.message = strings.TrimPrefix(out.message+"; ", "; ") + "log incomplete: " + tr.incomplete
	}
	r.run.UVVersion, r.run.SetupDuration = mk.uvVersion, mk.setup
	cpu, ramMB, soft := calc.Peak()
	r.run.PeakCPUPercent = cpu
	r.run.PeakRAMBytes = int64(ramMB * (1 << 20))
	if out.errorType == status.ErrorOOM && memLimit > r.run.PeakRAMBytes {
		// The kernel killed the run at its limit, usually between two
		// samples (a quick allocation dies before the first): the peak
		// was the limit.
		r.run.PeakRAMBytes = memLimit
	}
	r.run.SoftLimitExceeded = soft
	if !r.finish(ctx, out) {
		return // not stored: the container stays for the next start to settle
	}
	if err := remove(ctx, o.rt, o.clk, r.run.ContainerID); err != nil {
		// The engine is away (it may be what ended the run): keep
		// trying, so the container does not wait for the next start.
		r.log.Warn("remove container; retrying in the background", "err", err)
		o.removeLater(r.log, r.run.ContainerID)
	}
}

// vanished tells a container killed and removed behind the operator's
// back (docker rm -f: Wait says 137) from a pipeline that died of SIGKILL:
// the first is gone when asked about.
func (r *runner) vanished(ctx context.Context, exit runtime.ExitStatus) bool {
	if exit.Code != 137 || exit.OOMKilled {
		return false
	}
	lctx, cancel := withTimeout(context.WithoutCancel(ctx), r.o.clk, 10*time.Second)
	defer cancel()
	cs, err := r.o.rt.List(lctx, map[string]string{runtime.LabelRunID: r.run.ID})
	return err == nil && len(cs) == 0
}

// engineEnded tells a container the engine killed as it stopped (dockerd
// stopping sends SIGTERM, then SIGKILL, to what it runs) from a pipeline
// that died of a signal: the engine was away during the run, or does not
// answer right after the exit.
func (r *runner) engineEnded(ctx context.Context, exit runtime.ExitStatus, outage bool) bool {
	if (exit.Code != 137 && exit.Code != 143) || exit.OOMKilled {
		return false
	}
	if outage {
		return true
	}
	// A stopping dockerd answers until the last of its containers is
	// down, then goes within milliseconds: watch it for a moment.
	ctx = context.WithoutCancel(ctx)
	for attempt := range engineWatchPings {
		if attempt > 0 && !sleep(ctx, r.o.clk, engineWatchEvery) {
			return false
		}
		pctx, cancel := withTimeout(ctx, r.o.clk, time.Second)
		err := r.o.rt.Ping(pctx)
		cancel()
		if err != nil {
			return true
		}
	}
	return false
}

// A run that died of SIGTERM or SIGKILL on its own is classified after
// engineWatchPings pings engineWatchEvery apart all answered: about 3 s.
const (
	engineWatchPings = 13
	engineWatchEvery = 250 * time.Millisecond
)

// start waits for the pipeline's warm-up and starts the container. It
// reports false when the run ended (or was left for the next start) before
// a container ran.
func (r *runner) start(ctx context.Context, note func(string)) bool {
	o := r.o
	waiting := func() {
		// The run's status message says why it has not started.
		r.run.Message = "waiting for dependency installation"
		if err := o.store.UpdateRun(ctx, r.run); err != nil {
			r.log.Warn("record waiting for dependencies", "err", err)
		}
	}
	if !o.preheat.wait(ctx, r.stopped, r.pipeline, note, waiting) {
		if req := r.stopReason(); req.reason != endNatural {
			r.finishStopped(ctx, req)
		}
		return false // shutting down: settled at the next start
	}
	if req := r.stopReason(); req.reason != endNatural {
		r.finishStopped(ctx, req)
		return false
	}
	cmd, wrapperEnv := runCommand(r.pipeline.Name, r.pipeline.HasRequirements)
	env := maps.Clone(r.env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, wrapperEnv)
	spec := o.containerSpec("run", r.run.ID, r.run.Revision, r.pipeline, cmd, env)
	id, err := o.rt.Start(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return false // shutting down before the container existed: settled at the next start
		}
		if req := r.stopReason(); req.reason != endNatural {
			r.finishStopped(ctx, req)
			return false
		}
		r.log.Error("start container", "err", err)
		note("could not start the container: " + err.Error())
		r.finish(ctx, outcome{status: status.RunFailed, errorType: status.ErrorDocker, message: "could not start the container: " + err.Error()})
		return false
	}
	r.containerID = id
	r.run.ContainerID = id
	r.run.Status = status.RunRunning
	r.run.Admitted = true
	r.run.Message = ""
	r.run.StartedAt = o.now()
	// A lost RUNNING record heals itself: the final transition accepts
	// PENDING as well, and reconciliation finds the container by label.
	if err := o.store.UpdateRun(ctx, r.run); err != nil {
		r.log.Error("record run start", "err", err)
	}
	r.log.Info("run started", "container", repo.ShortSHA(id))
	o.reportRunStarted(r.run)
	return true
}

// finishStopped ends a run that was stopped before its container ran.
func (r *runner) finishStopped(ctx context.Context, req stopRequest) {
	out := classify(req.reason, runtime.ExitStatus{}, "", 0, formatSeconds(r.o.PolicyFor(r.pipeline.Spec).Timeout))
	if req.message != "" {
		out.message = req.message
	}
	r.finish(ctx, out)
}

// watch follows the container until it exits or the operator ends it. When
// the runtime goes away it waits for it to come back and re-attaches,
// resuming the log after the last stored line; a stop request or the
// timeout meanwhile still ends the run. detached reports that ctx ended
// with the container left running.
func (r *runner) watch(ctx context.Context, tr *transcript, sample func(runtime.Sample), note func(string)) (res waited, detached bool) {
	o := r.o
	policy := o.PolicyFor(r.pipeline.Spec)
	timeout := policy.Timeout
	stopHealth := r.startHealthWatch(ctx)
	defer stopHealth()
	var timer <-chan time.Time
	if timeout > 0 {
		t := o.clk.NewTimer(max(timeout-o.now().Sub(r.run.StartedAt), 0))
		defer t.Stop()
		timer = t.C()
	}
	// The stall check looks at the lines stored a few times per
	// STALL_TIMEOUT; a run re-attached after a restart gets a full
	// STALL_TIMEOUT from then on.
	var (
		stallTick  <-chan time.Time
		stallTimer Timer
	)
	stall := policy.StallTimeout
	stallEvery := min(max(stall/4, 50*time.Millisecond), 5*time.Second)
	if stall > 0 {
		stallTimer = o.clk.NewTimer(stallEvery)
		defer stallTimer.Stop()
		stallTick = stallTimer.C()
	}
	// Stopping and draining run on a context of their own, which outlives
	// ctx (a stop policy's shutdown) but not by more than these bounds.
	cleanup := func() (context.Context, context.CancelFunc) {
		return withTimeout(context.WithoutCancel(ctx), o.clk, o.cfg.StopGrace+3*cleanupTimeout)
	}
	stop := func(sess *session, why string) waited {
		note(why)
		cctx, cancel := cleanup()
		defer cancel()
		if sess == nil {
			return stopWithoutSession(cctx, o.rt, o.clk, r.containerID, o.cfg.StopGrace)
		}
		res := sess.stop(cctx, o.cfg.StopGrace)
		if res.err == nil {
			sess.drain(cctx)
		}
		sess.close()
		return res
	}
	stopFor := func(sess *session) waited {
		req := r.stopReason()
		switch req.reason {
		case endShutdown:
			return stop(sess, "Fast-Flow is shutting down (SHUTDOWN_POLICY=stop): stopping the container")
		case endRemoved:
			return stop(sess, req.message+": stopping the container")
		case endUnhealthy:
			return stop(sess, "the container's health check failed: "+req.message+"; stopping the container")
		default:
			return stop(sess, "stop requested: stopping the container")
		}
	}
	onTimeout := func(sess *session) waited {
		r.requestStop(stopRequest{reason: endTimeout})
		if r.stopReason().reason != endTimeout {
			return stopFor(sess) // a stop request came first
		}
		return stop(sess, fmt.Sprintf("timeout of %s reached: stopping the container", formatSeconds(timeout)))
	}

	lines, quietSince := int64(-1), o.now()
	for {
		sess := attach(ctx, o.rt, o.clk, r.log, r.containerID, sessionSinks{line: tr.line, eof: tr.eof, sample: sample, since: tr.since()})
		var trouble error
	follow:
		for {
			select {
			case res = <-sess.exited:
				if res.err == nil {
					cctx, cancel := cleanup()
					ended := sess.drain(cctx)
					sess.close()
					if !ended || (sess.logErr != nil && !errors.Is(sess.logErr, errSinkFull)) {
						// The stream broke or hung: what the engine kept
						// is read back, and what it did not is marked.
						r.reread(cctx, tr, sess.logErr)
					}
					cancel()
					return res, false
				}
				sess.close()
				if r.stopReason().reason != endNatural {
					// Stopped meanwhile: see the stop through.
					return stopFor(nil), false
				}
				if errors.Is(res.err, runtime.ErrNotFound) || ctx.Err() != nil {
					return res, ctx.Err() != nil
				}
				trouble = res.err
				break follow
			case <-timer:
				return onTimeout(sess), false
			case <-stallTick:
				stallTimer.Reset(stallEvery)
				if n := tr.stored.Load(); n != lines {
					lines, quietSince = n, o.now()
					continue
				}
				if o.now().Sub(quietSince) < stall {
					continue
				}
				r.log.Warn("run stalled: no output", "for", stall)
				r.requestStop(stopRequest{reason: endStalled})
				if r.stopReason().reason != endStalled {
					return stopFor(sess), false
				}
				source := "STALL_TIMEOUT"
				if !policy.StallTimeoutDefault {
					source = "stall_timeout in pipeline.json"
				}
				return stop(sess, fmt.Sprintf("no output for %s (%s): stopping the container", formatSeconds(stall), source)), false
			case <-r.stopped:
				return stopFor(sess), false
			case <-ctx.Done():
				sess.close()
				return waited{}, true
			}
		}

		// The runtime went away mid-run (or failed). The container may
		// well go on: wait for the runtime and re-attach, resuming the log
		// after the last stored line.
		r.log.Warn("container runtime unavailable; waiting to re-attach", "err", trouble)
		tr.outage = true
		if tr.outageFrom.IsZero() {
			tr.outageFrom = o.now()
		}
		for back := false; !back; {
			ping := o.clk.NewTimer(time.Second)
			select {
			case <-ping.C():
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				back = o.rt.Ping(pctx) == nil
				cancel()
			case <-timer:
				ping.Stop()
				return onTimeout(nil), false
			case <-r.stopped:
				ping.Stop()
				return stopFor(nil), false
			case <-ctx.Done():
				ping.Stop()
				return waited{}, true
			}
			ping.Stop()
		}
		r.log.Info("container runtime is back; re-attaching")
		quietSince = o.now()
		tr.backAt = quietSince
	}
}

// reread reads the container's output again from the last stored line
// once it has exited, after the live stream broke (why); lines that cannot
// be read back make the log incomplete.
func (r *runner) reread(ctx context.Context, tr *transcript, why error) {
	stream, err := r.o.rt.Logs(ctx, r.containerID, runtime.LogOptions{Since: tr.since()})
	if err == nil {
		defer stream.Close()
		for {
			var line runtime.LogLine
			line, err = stream.Next()
			if err != nil {
				break
			}
			tr.line(line)
		}
		if errors.Is(err, io.EOF) {
			tr.eof()
			r.log.Info("log stream broke; read the rest back from the engine", "why", why)
			return
		}
	}
	r.log.Warn("log stream broke and the engine's copy could not be read; the log is marked incomplete", "why", why, "err", err)
	tr.incomplete = "the log stream broke and the container engine's copy could not be read back: " + firstLine(err.Error())
}

// finish stores the run's final outcome (counted once, by the store, in
// the same transaction), reports it and queues a retry if one is due. A
// store that does not answer is retried with backoff until it does or ctx
// ends: finish reports whether the outcome is stored, and only then may the
// container and its output be released.
func (r *runner) finish(ctx context.Context, out outcome) bool {
	o := r.o
	r.run.Status, r.run.ErrorType, r.run.Message = out.status, out.errorType, out.message
	if r.run.FinishedAt.IsZero() {
		r.run.FinishedAt = o.now()
	}
	changed, err := o.storeFinal(ctx, r.log, r.run, status.RunPending, status.RunRunning)
	if err != nil {
		r.log.Error("record run end; the next start settles the run", "status", out.status, "err", err)
		return false
	}
	if !changed {
		// Someone else ended it (a second replica's reconciliation): its
		// outcome stands and is counted already.
		r.log.Warn("run was ended elsewhere; keeping that outcome")
		return true
	}
	r.log.Info("run finished", "status", out.status, "error_type", out.errorType, "message", out.message)
	o.reportRunFinished(r.run)
	if out.status == status.RunFailed || out.status == status.RunTimeout {
		o.queueRetry(ctx, r.log, r.run, r.pipeline)
	}
	return true
}

// storeFinal writes a final status with FinishRun, retrying with backoff
// while the store fails, until ctx ends. Each attempt runs on a context of
// its own, so a run that ends as the operator shuts down is still written.
func (o *Operator) storeFinal(ctx context.Context, log *slog.Logger, run status.Run, from ...status.RunStatus) (bool, error) {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		changed, err := o.store.FinishRun(actx, run, from...)
		cancel()
		if err == nil && changed {
			o.runEnded(ctx, run)
			o.retention.poke()
			o.uvcache.poke()
		}
		if err == nil || errors.Is(err, status.ErrNotFound) || errors.Is(err, status.ErrInvalidArgument) {
			return changed, err
		}
		if attempt == 0 {
			log.Warn("record run end: the store does not answer; retrying", "err", err)
		}
		if !sleep(ctx, o.clk, backoff(attempt, 5*time.Second)) {
			return false, fmt.Errorf("record run end: %w", errors.Join(err, ctx.Err()))
		}
	}
}
