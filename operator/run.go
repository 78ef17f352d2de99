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
}

// activeRun is the operator's handle on a run it supervises.
type activeRun struct {
	id string
	// stop carries the operator's reason to stop the run (cancel, shutdown).
	stop chan endReason
}

// RunPipeline admits and starts a run of the live revision's pipeline. It
// returns once the run is recorded as PENDING; the container starts in the
// background. Errors: ErrPipelineNotFound, ErrPipelineInvalid,
// ErrPipelineDisabled, *ParamError, ErrMissingSecret, ErrTooManyRuns (no
// record is left behind), ErrRuntimeUnavailable, ErrNotAccepting.
func (o *Operator) RunPipeline(ctx context.Context, req RunRequest) (status.Run, error) {
	return o.submit(ctx, req, nil)
}

// submit is RunPipeline for every trigger. claim, when set, is called with
// the new run's ID after every check passed and before anything else is
// recorded; its error (a scheduled fire claimed before: status.ErrConflict)
// abandons the run. A scheduled run over MAX_CONCURRENT_RUNS is recorded
// PENDING and queued instead of refused.
func (o *Operator) submit(ctx context.Context, req RunRequest, claim func(ctx context.Context, runID string) error) (status.Run, error) {
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
	secrets, err := o.secretsFor(ctx, p)
	if err != nil {
		return status.Run{}, err
	}
	if err := o.rt.Ping(ctx); err != nil {
		return status.Run{}, fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
	}

	// default_env < secrets < parameters < run env: the most specific wins.
	env := map[string]string{}
	maps.Copy(env, p.Spec.DefaultEnv)
	maps.Copy(env, secrets)
	maps.Copy(env, params)
	maps.Copy(env, req.Env)

	ar, err := o.admit()
	if errors.Is(err, ErrTooManyRuns) && req.Trigger == status.TriggerSchedule {
		return o.queueRun(ctx, req, claim, snap, p, params, env, secrets)
	}
	if err != nil {
		return status.Run{}, err
	}
	if claim != nil {
		if err := claim(ctx, ar.id); err != nil {
			o.release(ar.id)
			return status.Run{}, err
		}
	}
	run, err := o.createRun(ctx, ar.id, req, snap, p, params, env, "")
	if err != nil {
		o.release(ar.id)
		return status.Run{}, err
	}
	// Open the live log before returning, so a caller that follows the run
	// right away never misses its first lines.
	o.logHubs.Open(run.ID)
	plan := runPlan{run: run, pipeline: p, revisionDir: snap.Dir, env: env, secrets: slices.Collect(maps.Values(secrets))}
	o.startSupervisor(ar, plan)
	return run, nil
}

// queueRun records a scheduled run PENDING with no container and queues it
// for the next free slot ("queue instead of reject").
func (o *Operator) queueRun(ctx context.Context, req RunRequest, claim func(context.Context, string) error,
	snap *repo.Snapshot, p repo.Pipeline, params, env, secrets map[string]string) (status.Run, error) {
	id, err := status.NewRunID()
	if err != nil {
		return status.Run{}, err
	}
	if claim != nil {
		if err := claim(ctx, id); err != nil {
			return status.Run{}, err
		}
	}
	run, err := o.createRun(ctx, id, req, snap, p, params, env, queuedMessage(o.cfg.MaxConcurrentRuns))
	if err != nil {
		return status.Run{}, err
	}
	plan := runPlan{run: run, pipeline: p, revisionDir: snap.Dir, env: env, secrets: slices.Collect(maps.Values(secrets))}
	o.runMu.Lock()
	if !o.accepting {
		o.runMu.Unlock()
		return run, nil // shutting down: the next start requeues it
	}
	o.enqueueLocked(plan)
	o.runMu.Unlock()
	o.log.Info("run queued: MAX_CONCURRENT_RUNS reached", "run", id, "pipeline", p.Name)
	// A slot may have freed between admit and enqueue.
	o.drainQueue()
	return run, nil
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

// admit reserves a slot under MAX_CONCURRENT_RUNS. The reservation is made
// before anything is written, so concurrent requests can never overshoot
// and a refused request leaves no record.
func (o *Operator) admit() (*activeRun, error) {
	id, err := status.NewRunID()
	if err != nil {
		return nil, err
	}
	o.runMu.Lock()
	defer o.runMu.Unlock()
	if !o.accepting {
		return nil, ErrNotAccepting
	}
	if len(o.active) >= o.cfg.MaxConcurrentRuns {
		return nil, fmt.Errorf("%w: %d of MAX_CONCURRENT_RUNS=%d are active", ErrTooManyRuns, len(o.active), o.cfg.MaxConcurrentRuns)
	}
	ar := &activeRun{id: id, stop: make(chan endReason, 1)}
	o.active[id] = ar
	return ar, nil
}

// adopt registers a run found at startup, over the limit if need be: it
// already runs, refusing it would not stop it.
func (o *Operator) adopt(id string) *activeRun {
	o.runMu.Lock()
	defer o.runMu.Unlock()
	ar := &activeRun{id: id, stop: make(chan endReason, 1)}
	o.active[id] = ar
	return ar
}

// release frees a run's slot and hands it to the oldest queued run, in one
// critical section so that a manual run cannot take it in between.
func (o *Operator) release(id string) {
	o.runMu.Lock()
	delete(o.active, id)
	ar, plan, ok := o.dequeueLocked()
	o.runMu.Unlock()
	if ok {
		o.startQueued(ar, plan)
	}
}

// ActiveRuns is how many runs this operator supervises now.
func (o *Operator) ActiveRuns() int {
	o.runMu.Lock()
	defer o.runMu.Unlock()
	return len(o.active)
}

func (o *Operator) createRun(ctx context.Context, id string, req RunRequest, snap *repo.Snapshot, p repo.Pipeline, params, env map[string]string, msg string) (status.Run, error) {
	logPath, err := logs.Path(o.cfg.LogsDir, p.Name, id)
	if err != nil {
		return status.Run{}, err
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = status.TriggerManual
	}
	attempt := req.Attempt
	if attempt == 0 {
		attempt = 1
	}
	run, err := o.store.CreateRun(ctx, status.Run{
		ID:          id,
		Pipeline:    p.Name,
		Status:      status.RunPending,
		Message:     msg,
		Revision:    snap.Revision,
		Trigger:     trigger,
		TriggeredBy: req.TriggeredBy,
		Attempt:     attempt,
		RetryOf:     req.RetryOf,
		Parameters:  params,
		EnvNames:    slices.Sorted(maps.Keys(env)),
		LogPath:     logPath,
		MetricsPath: metricsPath(logPath),
	})
	if err != nil {
		return status.Run{}, fmt.Errorf("record run of %s: %w", p.Name, err)
	}
	return run, nil
}

// metricsPath is <run_id>_metrics.jsonl beside <run_id>.log.
func metricsPath(logPath string) string {
	return logPath[:len(logPath)-len(".log")] + "_metrics.jsonl"
}

// CancelRun stops an active run with the grace period; it ends CANCELLED.
func (o *Operator) CancelRun(ctx context.Context, id string) error {
	o.runMu.Lock()
	ar, ok := o.active[id]
	o.runMu.Unlock()
	if !ok {
		if o.cancelQueued(ctx, id, "cancelled while queued") {
			return nil
		}
		if _, err := o.store.GetRun(ctx, id); errors.Is(err, status.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrRunNotFound, id)
		} else if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrRunNotActive, id)
	}
	select {
	case ar.stop <- endCancelled:
	default: // already being stopped
	}
	return nil
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
	params := make(map[string]any, len(prev.Parameters))
	for k, v := range prev.Parameters {
		params[k] = v
	}
	return o.RunPipeline(ctx, RunRequest{
		Pipeline: prev.Pipeline, Parameters: params, Trigger: status.TriggerRetry,
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
