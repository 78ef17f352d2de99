package operator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/secrets"
)

var (
	// ErrPipelineNotFound: no pipeline of that name in the live revision (404).
	ErrPipelineNotFound = errors.New("operator: pipeline not found")
	// ErrPipelineInvalid: the pipeline has validation problems (409).
	ErrPipelineInvalid = errors.New("operator: pipeline is invalid")
	// ErrPipelineDisabled: pipeline.json says "enabled": false (409).
	ErrPipelineDisabled = errors.New("operator: pipeline is disabled")
	// ErrTooManyRuns: MAX_CONCURRENT_RUNS are active (429).
	ErrTooManyRuns = errors.New("operator: too many runs")
	// ErrNotAccepting: the operator is starting or shutting down (503).
	ErrNotAccepting = errors.New("operator: not accepting runs")
	// ErrRuntimeUnavailable: the container backend does not answer (503).
	ErrRuntimeUnavailable = errors.New("operator: container runtime unavailable")
	// ErrMissingSecret: the pipeline names a secret that does not exist (409).
	ErrMissingSecret = errors.New("operator: secret missing")
	// ErrRunNotActive: cancel of a run that already ended (409).
	ErrRunNotActive = errors.New("operator: run is not active")
	// ErrLowDisk: LOGS_DIR or DATA_DIR has less than MIN_FREE_DISK free
	// (503).
	ErrLowDisk = errors.New("operator: not enough free disk space")
	// ErrRunNotFound: no run with that ID (404).
	ErrRunNotFound = errors.New("operator: run not found")
)

// SecretSource resolves secret names to values for one run. The secrets
// store implements it; without one, a pipeline that names secrets is
// refused.
type SecretSource interface {
	// Secrets returns the value of every name, or an error wrapping
	// secrets.ErrMissing that names the missing ones.
	Secrets(ctx context.Context, names []string) (map[string]string, error)
}

// RunRequest asks for one run.
type RunRequest struct {
	Pipeline string
	// Parameters are checked against the pipeline's declarations: JSON
	// values (API) or text (forms, CLI) parsed by the declared type.
	Parameters  map[string]any
	Env         map[string]string
	Trigger     status.Trigger
	TriggeredBy string
	// RetryOf and Attempt link a retry to the run it repeats.
	RetryOf string
	Attempt int
	// Queue asks for a run that finds MAX_CONCURRENT_RUNS taken to wait
	// in the queue (recorded PENDING, started when a slot frees) instead
	// of being refused with ErrTooManyRuns. Scheduled runs and automatic
	// retries always queue. RunPipeline then returns the PENDING run with a nil
	// error; its Admitted field is false when it was queued.
	Queue bool
}

// submitOptions are what the scheduler and retries add to a request.
type submitOptions struct {
	// fire is claimed in the admission transaction (status.ErrConflict
	// when claimed before); forbidActive applies the Forbid policy.
	fire         *status.Fire
	forbidActive bool
	// notBefore queues the run until then (a retry's delay).
	notBefore time.Time
}

// errSkipped: the Forbid policy skipped a scheduled fire.
var errSkipped = errors.New("operator: fire skipped: the previous run is still active")

// RunPipeline admits and starts a run of the live revision's pipeline. It
// returns once the run is recorded as PENDING; the container starts in the
// background. With req.Queue a run that finds every slot taken is queued
// (Admitted false) instead of refused. Errors: ErrPipelineNotFound,
// ErrPipelineInvalid, ErrPipelineDisabled, *ParamError, *EnvError, ErrMissingSecret, ErrLowDisk,
// ErrTooManyRuns (no record is left behind), ErrRuntimeUnavailable,
// ErrNotAccepting.
func (o *Operator) RunPipeline(ctx context.Context, req RunRequest) (status.Run, error) {
	return o.submit(ctx, req, submitOptions{})
}

// submit is RunPipeline for every trigger: it checks the request against
// the live snapshot, then lets the store decide in one transaction whether
// the run starts, queues, is skipped (errSkipped) or is refused.
func (o *Operator) submit(ctx context.Context, req RunRequest, opts submitOptions) (status.Run, error) {
	if !o.adm.isAccepting() {
		return status.Run{}, ErrNotAccepting
	}
	snap := o.Snapshot()
	if snap == nil {
		return status.Run{}, fmt.Errorf("%w: %q (nothing synced yet)", ErrPipelineNotFound, req.Pipeline)
	}
	p, ok := snap.Pipeline(req.Pipeline)
	switch {
	case !ok:
		return status.Run{}, fmt.Errorf("%w: %q at %s", ErrPipelineNotFound, req.Pipeline, snap.ShortRevision())
	case !p.Valid():
		return status.Run{}, fmt.Errorf("%w: %q has %d problems, first: %s", ErrPipelineInvalid, p.Name, len(p.Problems), p.Problems[0])
	case !p.Spec.IsEnabled():
		return status.Run{}, fmt.Errorf("%w: %q (pipeline.json sets \"enabled\": false)", ErrPipelineDisabled, p.Name)
	}
	params, err := resolveParams(p.Spec.Parameters, req.Parameters)
	if err != nil {
		return status.Run{}, err
	}
	if err := checkRequestEnv(req.Env, p.Spec.AllowedEnv); err != nil {
		return status.Run{}, err
	}
	secretVals, err := o.secretsFor(ctx, p)
	if err != nil {
		return status.Run{}, err
	}
	if err := o.checkDisk(); err != nil {
		return status.Run{}, err
	}
	if err := o.rt.Ping(ctx); err != nil {
		return status.Run{}, fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
	}
	env := mergeEnv(p, secretVals, params, req.Env)

	id, err := status.NewRunID()
	if err != nil {
		return status.Run{}, err
	}
	logPath, err := logs.Path(o.cfg.LogsDir, p.Name, id)
	if err != nil {
		return status.Run{}, err
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = status.TriggerManual
	}
	attempt := max(req.Attempt, 1)
	queue := req.Queue || trigger == status.TriggerSchedule
	now := o.now()
	run := status.Run{
		ID:          id,
		Pipeline:    p.Name,
		Status:      status.RunPending,
		Revision:    snap.Revision,
		Trigger:     trigger,
		TriggeredBy: req.TriggeredBy,
		Attempt:     attempt,
		RetryOf:     req.RetryOf,
		Parameters:  params,
		EnvNames:    slices.Sorted(maps.Keys(env)),
		RequestEnv:  req.Env,
		LogPath:     logPath,
		MetricsPath: metricsPath(logPath),
		QueuedAt:    now,
		NotBefore:   opts.notBefore,
		Replica:     o.cfg.Replica.ID,
	}
	if queue {
		// Written only if the run queues; a started run clears it.
		run.Message = queuedMessage(o.cfg.MaxConcurrentRuns, opts.notBefore)
	}
	var fire *status.Fire
	if opts.fire != nil {
		f := *opts.fire
		fire = &f
	}
	stored, res, err := o.store.AdmitRun(ctx, run, status.Admission{
		Limit: o.cfg.MaxConcurrentRuns, Queue: queue, Fire: fire, ForbidActive: opts.forbidActive, Now: now,
	})
	switch {
	case errors.Is(err, status.ErrLimit):
		return status.Run{}, fmt.Errorf("%w: all MAX_CONCURRENT_RUNS=%d slots are taken", ErrTooManyRuns, o.cfg.MaxConcurrentRuns)
	case err != nil:
		return status.Run{}, fmt.Errorf("admit run of %s: %w", p.Name, err)
	}
	switch res {
	case status.AdmitSkipped:
		return status.Run{}, errSkipped
	case status.AdmitQueued:
		o.log.Info("run queued", "run", id, "pipeline", p.Name, "trigger", trigger, "not_before", opts.notBefore)
		o.adm.wake()
		return stored, nil
	}
	stored.Message = ""
	// Open the live log before returning, so a caller that follows the run
	// right away never misses its first lines.
	o.logHubs.Open(stored.ID)
	o.supervise(o.newRunner(stored, p, env, slices.Collect(maps.Values(secretVals))), false)
	return stored, nil
}

func (o *Operator) secretsFor(ctx context.Context, p repo.Pipeline) (map[string]string, error) {
	if len(p.Spec.Secrets) == 0 {
		return nil, nil
	}
	if o.secrets == nil {
		return nil, fmt.Errorf("%w: %q names secrets %v but no secret store is configured", ErrMissingSecret, p.Name, p.Spec.Secrets)
	}
	vals, err := o.secrets.Secrets(ctx, p.Spec.Secrets)
	if errors.Is(err, secrets.ErrMissing) {
		return nil, fmt.Errorf("%w: %q: %w", ErrMissingSecret, p.Name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("secrets of %q: %w", p.Name, err)
	}
	return vals, nil
}

// metricsPath is <run_id>_metrics.jsonl beside <run_id>.log.
func metricsPath(logPath string) string {
	return logPath[:len(logPath)-len(".log")] + "_metrics.jsonl"
}

// CancelRun stops an active run with the grace period, or takes a queued
// one out of the queue; either ends CANCELLED.
func (o *Operator) CancelRun(ctx context.Context, id string) error {
	return o.stopRun(ctx, id, stopRequest{reason: endCancelled})
}

// stopRun carries a stop request to the run's runner, or ends the run in
// the queue with the request's outcome.
func (o *Operator) stopRun(ctx context.Context, id string, req stopRequest) error {
	if r := o.adm.lookup(id); r != nil {
		r.requestStop(req)
		return nil
	}
	run, err := o.store.GetRun(ctx, id)
	if errors.Is(err, status.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	if err != nil {
		return err
	}
	if run.Status == status.RunPending && !run.Admitted {
		out := classify(req.reason, runtime.ExitStatus{}, "", 0, "")
		run.Status, run.Message, run.FinishedAt = out.status, out.message+" while queued", o.now()
		if req.message != "" {
			run.Message = req.message
		}
		ok, err := o.store.CancelQueued(ctx, run)
		if err != nil {
			return fmt.Errorf("cancel queued run %s: %w", id, err)
		}
		if ok {
			o.log.Info("queued run cancelled", "run", id, "pipeline", run.Pipeline)
			return nil
		}
		// Claimed meanwhile: its runner may be starting right now.
		if r := o.adm.lookup(id); r != nil {
			r.requestStop(req)
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrRunNotActive, id)
}

// RetryRun starts a new run of a finished run's pipeline with the same
// parameters, linked to it.
func (o *Operator) RetryRun(ctx context.Context, id, user string) (status.Run, error) {
	prev, err := o.store.GetRun(ctx, id)
	if errors.Is(err, status.ErrNotFound) {
		return status.Run{}, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	if err != nil {
		return status.Run{}, err
	}
	if !prev.Status.Final() {
		return status.Run{}, fmt.Errorf("%w: %s is %s", ErrRunNotActive, id, prev.Status)
	}
	return o.RunPipeline(ctx, RunRequest{
		Pipeline: prev.Pipeline, Parameters: paramsAny(prev.Parameters), Env: prev.RequestEnv, Trigger: status.TriggerRetry,
		TriggeredBy: user, RetryOf: prev.ID, Attempt: prev.Attempt + 1,
	})
}

// retryDelay is retry_delay doubled for each attempt already made.
func retryDelay(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
