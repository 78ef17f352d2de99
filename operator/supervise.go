package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// cleanupTimeout bounds the work done after a run ends (stop, remove,
// record), which runs on a context that survives the run's own.
const cleanupTimeout = 30 * time.Second

// waited is what Wait said about a container.
type waited struct {
	exit runtime.ExitStatus
	err  error
}

// runPlan is everything the supervisor needs for one run.
type runPlan struct {
	run         status.Run
	pipeline    repo.Pipeline
	revisionDir string
	env         map[string]string
	secrets     []string

	// Set when re-attaching to a container found at startup.
	containerID string
	resumeFrom  runtime.LogLine // the last stored line (masked), to resume the log after
}

func (o *Operator) startSupervisor(ar *activeRun, plan runPlan) {
	o.runWG.Add(1)
	go func() {
		defer o.runWG.Done()
		defer o.release(ar.id)
		o.supervise(o.runCtx, ar, plan)
	}()
}

// supervise owns one run from PENDING to its final status. It is the only
// writer of the run's record while the run is active. When ctx ends (the
// operator shuts down with SHUTDOWN_POLICY=detach) it returns without
// touching the container, which the next start re-attaches.
func (o *Operator) supervise(ctx context.Context, ar *activeRun, plan runPlan) {
	run := plan.run
	log := o.log.With("run", run.ID, "pipeline", run.Pipeline)
	cleanup := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	}

	hub := o.logHubs.Open(run.ID)
	defer o.logHubs.Close(run.ID)
	masker := logs.NewMasker(plan.secrets)
	w, err := logs.Open(run.LogPath, logs.Options{MaxBytes: o.cfg.LogMaxBytes, Masker: masker, Hub: hub})
	if err != nil {
		o.finish(ctx, log, &run, outcome{status: status.RunFailed, errorType: status.ErrorDocker, message: "open log file: " + err.Error()}, nil)
		return
	}
	defer w.Close()

	id := plan.containerID
	if id == "" {
		// A run waits while its pipeline's requirements are being warmed,
		// instead of racing the warm-up on the shared uv cache.
		waiting := func() {
			// The run's status message says why it has not started.
			run.Message = "waiting for dependency installation"
			if err := o.store.UpdateRun(ctx, run); err != nil {
				log.Warn("record waiting for dependencies", "err", err)
			}
		}
		if !o.waitForPreheat(ctx, plan.pipeline, w, waiting) {
			return // shutting down: reconciled at the next start
		}
		spec := o.runSpec(run, plan)
		id, err = o.rt.Start(ctx, spec)
		if err != nil {
			if ctx.Err() != nil {
				return // shutting down before the container existed: reconciled at next start
			}
			log.Error("start container", "err", err)
			_ = w.Write(runtime.LogLine{Time: time.Now().UTC(), Stream: logs.StreamSystem, Text: "could not start the container: " + err.Error()})
			o.finish(ctx, log, &run, outcome{status: status.RunFailed, errorType: status.ErrorDocker, message: "could not start the container: " + err.Error()}, nil)
			return
		}
		run.ContainerID = id
		run.Status = status.RunRunning
		run.Message = ""
		run.StartedAt = time.Now().UTC()
		if err := o.store.UpdateRun(ctx, run); err != nil {
			log.Error("record run start", "err", err)
		}
		log.Info("run started", "container", repo.ShortSHA(id))
		o.reportRunStarted(run)
	}

	var (
		mk   markers
		mkMu sync.Mutex
	)
	marker := func(text string) bool {
		mkMu.Lock()
		defer mkMu.Unlock()
		return mk.parseMarker(text)
	}
	calc := metrics.NewCalculator(metrics.Limits{
		CPUSoft:      plan.pipeline.Spec.CPUSoftLimit,
		CPUHard:      plan.pipeline.Spec.CPUHardLimit,
		MemSoftBytes: int64(plan.pipeline.Spec.MemSoftLimit),
	})
	timeout := o.timeoutFor(plan.pipeline)
	resumeFrom := plan.resumeFrom
	var (
		res    waited
		reason endReason
	)
	for {
		var lastLine runtime.LogLine
		var detached bool
		res, reason, lastLine, detached = o.watch(ctx, ar, log, id, run, resumeFrom, masker, timeout, w, marker, calc)
		if detached {
			log.Info("detached from running container; the next start re-attaches it")
			return
		}
		if !lastLine.Time.IsZero() {
			resumeFrom = lastLine
		}
		if res.err == nil {
			break
		}
		if !errors.Is(res.err, runtime.ErrUnavailable) {
			// The container's fate is unknown: leave the record RUNNING
			// and the container in place for the next reconcile.
			log.Error("wait for container", "err", res.err)
			return
		}
		// The daemon went away mid-run. The container may well go on:
		// wait for the daemon and re-attach, resuming the log after the
		// last stored line.
		log.Warn("container runtime unavailable; waiting to re-attach", "err", res.err)
		if !o.waitForRuntime(ctx) {
			return
		}
		log.Info("container runtime is back; re-attaching")
	}
	if err := w.Close(); err != nil {
		log.Error("close log", "err", err)
	}

	mkMu.Lock()
	run.UVVersion = mk.uvVersion
	run.SetupDuration = mk.setup
	setupFailed := mk.setupFailed
	mkMu.Unlock()
	out := classify(reason, res.exit, setupFailed, int64(plan.pipeline.Spec.MemHardLimit), formatSeconds(timeout))
	code := res.exit.Code
	run.ExitCode = &code
	if !res.exit.FinishedAt.IsZero() {
		run.FinishedAt = res.exit.FinishedAt.UTC()
	}
	cpu, ramMB, soft := calc.Peak()
	run.PeakCPUPercent = cpu
	run.PeakRAMBytes = int64(ramMB * (1 << 20))
	run.SoftLimitExceeded = soft
	o.finish(ctx, log, &run, out, &plan)

	cctx, cancel := cleanup()
	defer cancel()
	if err := o.rt.Remove(cctx, id); err != nil {
		log.Warn("remove container", "err", err)
	}
}

// watch follows one container until it exits, the run's timeout passes,
// the operator stops it, or ctx ends (detached). It returns the last log
// line time it stored, for a later resume.
func (o *Operator) watch(ctx context.Context, ar *activeRun, log *slog.Logger, id string, run status.Run, resumeFrom runtime.LogLine,
	masker *logs.Masker, timeout time.Duration, w *logs.Writer, marker func(string) bool, calc *metrics.Calculator) (res waited, reason endReason, last runtime.LogLine, detached bool) {
	// The pumps end on their own when the container exits; pumpCtx also
	// stops them on every other way out, so none outlives this call.
	pumpCtx, stopPumps := context.WithCancel(ctx)
	defer stopPumps()
	var (
		pumps    sync.WaitGroup
		progress atomic.Int64 // lines stored by pumpLogs, for the drain wait
	)
	logsDone := make(chan struct{})
	lastCh := make(chan runtime.LogLine, 1)
	pumps.Add(2)
	go func() {
		defer pumps.Done()
		defer close(logsDone)
		lastCh <- o.pumpLogs(pumpCtx, log, id, newResumer(resumeFrom, masker.Mask), masker, w, marker, &progress)
	}()
	go func() {
		defer pumps.Done()
		o.pumpStats(pumpCtx, log, id, run, calc)
	}()
	// The writer buffers; readers of the file (the API, a tail) should lag
	// the live hub by half a second at most.
	pumps.Add(1)
	go func() {
		defer pumps.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pumpCtx.Done():
				return
			case <-t.C:
				if err := w.Flush(); err != nil && !errors.Is(err, logs.ErrClosed) {
					log.Warn("flush log", "err", err)
				}
			}
		}
	}()
	defer func() {
		stopPumps()
		pumps.Wait()
		last = <-lastCh
	}()

	waitCh := make(chan waited, 1)
	pumps.Add(1)
	go func() {
		defer pumps.Done()
		exit, err := o.rt.Wait(pumpCtx, id)
		waitCh <- waited{exit, err}
	}()

	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(max(timeout-time.Since(run.StartedAt), 0))
		defer t.Stop()
		timer = t.C
	}
	// The stall check looks at the lines stored a few times per
	// STALL_TIMEOUT; a run re-attached after a restart gets a full
	// STALL_TIMEOUT from then on.
	var stallTick <-chan time.Time
	stall := o.cfg.StallTimeout
	if stall > 0 {
		tk := time.NewTicker(min(max(stall/4, 50*time.Millisecond), 5*time.Second))
		defer tk.Stop()
		stallTick = tk.C
	}
	lines, quietSince := progress.Load(), time.Now()
wait:
	for {
		select {
		case res = <-waitCh:
			break wait
		case <-timer:
			reason = endTimeout
			_ = w.Write(runtime.LogLine{Time: time.Now().UTC(), Stream: logs.StreamSystem, Text: fmt.Sprintf("timeout of %s reached: stopping the container", formatSeconds(timeout))})
			res = o.stopAndWait(ctx, log, id, waitCh)
			break wait
		case <-stallTick:
			if n := progress.Load(); n != lines {
				lines, quietSince = n, time.Now()
				continue
			}
			if time.Since(quietSince) < stall {
				continue
			}
			reason = endStalled
			log.Warn("run stalled: no output", "for", stall)
			_ = w.Write(runtime.LogLine{Time: time.Now().UTC(), Stream: logs.StreamSystem, Text: fmt.Sprintf("no output for %s (STALL_TIMEOUT): stopping the container", formatSeconds(stall))})
			res = o.stopAndWait(ctx, log, id, waitCh)
			break wait
		case reason = <-ar.stop:
			_ = w.Write(runtime.LogLine{Time: time.Now().UTC(), Stream: logs.StreamSystem, Text: "stop requested: stopping the container"})
			res = o.stopAndWait(ctx, log, id, waitCh)
			break wait
		case <-ctx.Done():
			return waited{}, endNatural, runtime.LogLine{}, true
		}
	}
	if res.err != nil {
		return res, reason, runtime.LogLine{}, false
	}
	// Everything the container wrote is in the log stream before it ends,
	// but the stream can trail the exit by a lot (a flood of output, a
	// loaded machine). Wait as long as lines keep coming; give up only on
	// a stream that has gone quiet without ending.
	t := time.NewTimer(logDrainIdle)
	defer t.Stop()
	seen := progress.Load()
	for {
		select {
		case <-logsDone:
			return res, reason, runtime.LogLine{}, false
		case <-t.C:
			if now := progress.Load(); now != seen {
				seen = now
				t.Reset(logDrainIdle)
				continue
			}
			log.Warn("log stream went quiet without ending after the container exited; closing it")
			return res, reason, runtime.LogLine{}, false
		}
	}
}

// logDrainIdle is how long the log stream may stay silent after the
// container exited before it is taken as hung.
const logDrainIdle = 10 * time.Second

// waitForRuntime polls the runtime until it answers again or ctx ends.
func (o *Operator) waitForRuntime(ctx context.Context) bool {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := o.rt.Ping(pctx)
			cancel()
			if err == nil {
				return true
			}
		}
	}
}

// stopAndWait stops the container with the grace period and waits for it.
func (o *Operator) stopAndWait(ctx context.Context, log *slog.Logger, id string, waitCh <-chan waited) waited {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.StopGrace+cleanupTimeout)
	defer cancel()
	if err := o.rt.Stop(cctx, id, o.cfg.StopGrace); err != nil {
		log.Error("stop container", "err", err)
	}
	select {
	case res := <-waitCh:
		return res
	case <-cctx.Done():
		return waited{err: fmt.Errorf("container did not stop: %w", cctx.Err())}
	}
}

// finish writes the final status, bumps the counters and schedules a retry.
func (o *Operator) finish(ctx context.Context, log *slog.Logger, run *status.Run, out outcome, plan *runPlan) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	run.Status = out.status
	run.ErrorType = out.errorType
	run.Message = out.message
	if run.FinishedAt.IsZero() {
		run.FinishedAt = time.Now().UTC()
	}
	if _, err := o.store.TransitionRun(cctx, *run, status.RunPending, status.RunRunning); err != nil {
		log.Error("record run end", "err", err)
	}
	if err := o.store.IncrementCounters(cctx, run.Pipeline, out.status == status.RunSuccess); err != nil {
		log.Error("update pipeline counters", "err", err)
	}
	log.Info("run finished", "status", out.status, "error_type", out.errorType, "message", out.message)
	o.reportRunFinished(*run)
	if plan != nil && (out.status == status.RunFailed || out.status == status.RunTimeout) {
		o.maybeRetry(ctx, log, *run, plan.pipeline)
	}
}

// maybeRetry schedules the next attempt after retry_delay, doubled per
// attempt, if retry_attempts allows one. The wait is owned by the operator:
// a shutdown drops pending retries (the run record says what happened).
func (o *Operator) maybeRetry(ctx context.Context, log *slog.Logger, run status.Run, p repo.Pipeline) {
	pol := o.PolicyFor(p.Spec)
	if run.Attempt > pol.RetryAttempts {
		return
	}
	delay := retryDelay(pol.RetryDelay, run.Attempt)
	log.Info("retry scheduled", "attempt", run.Attempt+1, "of", pol.RetryAttempts+1, "in", delay)
	o.runWG.Add(1)
	go func() {
		defer o.runWG.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		poll := time.NewTicker(time.Second)
		defer poll.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			_, err := o.RunPipeline(ctx, RunRequest{
				Pipeline: run.Pipeline, Parameters: paramsAny(run.Parameters), Trigger: status.TriggerRetry,
				TriggeredBy: run.TriggeredBy, RetryOf: run.ID, Attempt: run.Attempt + 1,
			})
			if !errors.Is(err, ErrTooManyRuns) && !errors.Is(err, ErrRuntimeUnavailable) {
				if err != nil {
					log.Error("retry", "err", err)
				}
				return
			}
			// A retry waits for a free slot instead of being dropped.
			select {
			case <-ctx.Done():
				return
			case <-poll.C:
			}
		}
	}()
}

func paramsAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (o *Operator) timeoutFor(p repo.Pipeline) time.Duration {
	return o.PolicyFor(p.Spec).Timeout
}

func (o *Operator) runSpec(run status.Run, plan runPlan) runtime.RunSpec {
	cmd, wrapperEnv := runCommand(plan.pipeline.Name, plan.pipeline.HasRequirements)
	env := map[string]string{}
	maps.Copy(env, o.cfg.WorkerEnv)
	maps.Copy(env, plan.env)
	maps.Copy(env, wrapperEnv)
	mounts := []runtime.Mount{
		{Source: plan.revisionDir, Target: "/app", ReadOnly: true},
		{Source: o.cfg.UVCacheDir, Target: "/root/.cache/uv"},
	}
	mounts = append(mounts, o.cfg.WorkerMounts...)
	spec := plan.pipeline.Spec
	return runtime.RunSpec{
		RunID:    run.ID,
		Pipeline: run.Pipeline,
		Revision: run.Revision,
		Kind:     "run",
		Image:    o.cfg.WorkerImage,
		Command:  cmd,
		WorkDir:  filepath.Join("/app", plan.pipeline.Name),
		Env:      env,
		Mounts:   mounts,
		Labels:   map[string]string{runtime.LabelInstance: o.cfg.Instance},
		Limits: runtime.Limits{
			NanoCPUs:    int64(spec.CPUHardLimit * 1e9),
			MemoryBytes: int64(spec.MemHardLimit),
		},
		Network: o.cfg.WorkerNetwork,
		Log:     runtime.LogLimits{MaxSize: "10m", MaxFiles: 3},
		Init:    true,
	}
}

// pumpLogs copies the container's output into the log writer until the
// stream ends, and returns the last line it stored (masked, as in the file).
// After a restart the stream is re-read from a little before the last
// stored line and the resumer drops what is already stored, so no line is
// lost or doubled. The wrapper's marker lines are consumed, not stored.
func (o *Operator) pumpLogs(ctx context.Context, log *slog.Logger, id string, res *resumer, masker *logs.Masker, w *logs.Writer, marker func(string) bool, progress *atomic.Int64) (last runtime.LogLine) {
	stream, err := o.rt.Logs(ctx, id, runtime.LogOptions{Since: res.since(), Follow: true})
	if err != nil {
		if ctx.Err() == nil {
			log.Error("follow logs", "err", err)
		}
		return runtime.LogLine{}
	}
	defer stream.Close()
	defer func() { last.Text = masker.Mask(last.Text) }()
	store := func(lines []runtime.LogLine) bool {
		for _, line := range lines {
			if line.Stream == logs.StreamStdout && marker(line.Text) {
				continue
			}
			if err := w.Write(line); err != nil {
				log.Error("write log", "err", err)
				return false
			}
			last = line // masked once, on the way out
			progress.Add(1)
		}
		return true
	}
	for {
		line, err := stream.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				store(res.flush())
			} else if ctx.Err() == nil {
				log.Error("read logs", "err", err)
			}
			return last
		}
		if !store(res.feed(line)) {
			return last
		}
	}
}

// pumpStats turns the container's samples into metrics points on file and
// on the run's live hub.
func (o *Operator) pumpStats(ctx context.Context, log *slog.Logger, id string, run status.Run, calc *metrics.Calculator) {
	stream, err := o.rt.Stats(ctx, id)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, runtime.ErrNotFound) {
			log.Warn("follow stats", "err", err)
		}
		return
	}
	defer stream.Close()
	mw, err := metrics.Open(run.MetricsPath, metrics.Options{Hub: o.metricHubs.Open(run.ID)})
	if err != nil {
		log.Error("open metrics file", "err", err)
		return
	}
	defer o.metricHubs.Close(run.ID)
	defer mw.Close()
	for {
		s, err := stream.Next()
		if err != nil {
			return
		}
		if err := mw.Write(calc.Add(s)); err != nil {
			log.Error("write metrics", "err", err)
			return
		}
	}
}
