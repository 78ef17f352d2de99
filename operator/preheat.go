package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
)

// Cache states the pre-heater records in status.Pipeline.CacheStatus.
const (
	// CacheWarming: a warm-up is queued or running.
	CacheWarming = "warming"
	// CacheWarm: uv installed the requirements; runs find them cached.
	CacheWarm = "warm"
	// CacheFailed: uv could not install the requirements (or ran out of
	// time or memory). Runs are not held back: they install themselves and
	// most likely end SETUP_FAILED with uv's message. The same requirements
	// are not retried until they change.
	CacheFailed = "failed"
	// CacheError: the warm-up could not run at all (container runtime
	// trouble, or Fast-Flow stopped meanwhile). Says nothing about the
	// requirements, so the next published revision tries again.
	CacheError = "error"
)

// Warm-up container bounds. A warm-up is uv work only, so it gets a fixed
// timeout instead of the pipeline's; its memory limit is the pipeline's,
// or a default that keeps a runaway resolver from taking the host.
const (
	preheatTimeout       = 10 * time.Minute
	preheatDefaultMemory = 1 << 30
	// preheatParallel bounds concurrent warm-ups: a commit that touches
	// many requirements files must not start a container per pipeline at
	// once next to the real runs.
	preheatParallel = 2
	// preheatOutputLines and preheatOutputBytes bound the tail of uv's
	// output kept in the store.
	preheatOutputLines = 40
	preheatOutputBytes = 4 << 10
)

// preheater warms the shared uv cache for pipelines whose requirements are
// new or changed, and holds back runs of a pipeline while its warm-up goes.
//
// Warm-ups start in afterPublish, which the Run loop calls, and are owned by
// the operator's runWG: they end when Run's ctx ends (the container is
// removed) and shutdown's runWG.Wait waits for them.
type preheater struct {
	o *Operator
	// sem bounds the warm-up containers running at once.
	sem chan struct{}
	// swept is set once leftover warm-up containers of a previous process
	// are removed; only the Run loop touches it.
	swept bool

	mu sync.Mutex
	// active are the run IDs of the warm-up containers this process made
	// and has not removed yet, which the janitor leaves alone.
	active map[string]bool
	// warming is the newest warm-up of each pipeline not finished yet. A
	// newer one for the same pipeline waits for the older (prev), so the
	// newest entry's done means all of that pipeline's warm-ups are done.
	warming map[string]*warmup
}

// warmup is one warm-up of one pipeline's requirements.
type warmup struct {
	pipeline repo.Pipeline
	revision string
	dir      string // the revision's directory, mounted at /app
	prev     *warmup
	// done is closed when the warm-up ended; result is written before.
	done   chan struct{}
	result warmResult
}

// warmResult is how a warm-up ended.
type warmResult struct {
	status string // CacheWarm, CacheFailed or CacheError
	took   time.Duration
	// interrupted: Run's ctx ended; the runs waiting on it are abandoned
	// too, to be reconciled at the next start.
	interrupted bool
}

func newPreheater(o *Operator) *preheater {
	return &preheater{o: o, sem: make(chan struct{}, preheatParallel), warming: map[string]*warmup{}, active: map[string]bool{}}
}

// afterPublish runs once a new revision is live and starts pre-heating of
// changed requirements (UV_PRE_HEAT). It must be called from the Run loop
// with Run's ctx, never after shutdown began: warm-ups are added to runWG
// and end with ctx.
func (o *Operator) afterPublish(ctx context.Context, snap *repo.Snapshot) {
	if o.cfg.PreHeat && o.preheat != nil {
		o.preheat.publish(ctx, snap)
	}
}

// publish starts a warm-up for every runnable pipeline of snap whose
// requirements hash differs from the one the store has warmed (or tried
// to). It reads the store once and starts goroutines; the warm-ups are
// registered before it returns, so a run admitted right after the publish
// already waits for them.
func (h *preheater) publish(ctx context.Context, snap *repo.Snapshot) {
	o := h.o
	if ctx.Err() != nil || snap == nil {
		return
	}
	if !h.swept {
		h.swept = true
		h.sweep(ctx)
	}
	rows, err := o.store.ListPipelines(ctx)
	if err != nil {
		o.log.Error("pre-heat: list pipelines; nothing is warmed for this revision", "revision", snap.ShortRevision(), "err", err)
		return
	}
	known := make(map[string]status.Pipeline, len(rows))
	for _, r := range rows {
		known[r.Name] = r
	}

	var dropped []status.Pipeline
	defer func() {
		// Written after the lock is released: runs check it before they
		// start and must not wait on the store.
		for _, row := range dropped {
			if err := o.store.UpsertPipeline(ctx, row); err != nil {
				o.log.Error("pre-heat: record removed requirements", "pipeline", row.Name, "err", err)
			}
		}
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range snap.Pipelines {
		row, ok := known[p.Name]
		if !p.HasRequirements || p.RequirementsHash == "" {
			if ok && row.HasRequirements && h.warming[p.Name] == nil {
				// requirements.txt was removed: forget its cache state,
				// keeping when the cache was last warmed.
				row.HasRequirements, row.RequirementsHash, row.CacheStatus, row.CacheOutput = false, "", "", ""
				dropped = append(dropped, row)
			}
			continue
		}
		// Disabled and invalid pipelines cannot run; their hash is not
		// recorded, so they are warmed once they can.
		if !p.Valid() || !p.Spec.IsEnabled() {
			continue
		}
		cur := h.warming[p.Name]
		if cur != nil && cur.pipeline.RequirementsHash == p.RequirementsHash {
			continue // already being warmed
		}
		if cur == nil && ok && row.RequirementsHash == p.RequirementsHash && (row.CacheStatus == CacheWarm || row.CacheStatus == CacheFailed) {
			continue // unchanged, and uv had its say on it
		}
		// Anything else (new, changed, or "warming"/"error" left by a
		// process that stopped) is warmed now.
		wu := &warmup{pipeline: p, revision: snap.Revision, dir: snap.Dir, prev: cur, done: make(chan struct{})}
		h.warming[p.Name] = wu
		o.runWG.Add(1)
		go func() {
			defer o.runWG.Done()
			h.run(ctx, wu)
		}()
	}
}

// sweep removes warm-up containers a previous process of this installation
// left behind (it crashed mid-warm-up). Reconcile only handles run
// containers, and a warm-up is worthless once its owner is gone.
func (h *preheater) sweep(ctx context.Context) {
	o := h.o
	cs, err := o.rt.List(ctx, map[string]string{runtime.LabelKind: "preheat", runtime.LabelInstance: o.cfg.Instance})
	if err != nil {
		o.log.Warn("pre-heat: list leftover warm-up containers", "err", err)
		return
	}
	for _, c := range cs {
		o.log.Info("pre-heat: removing a warm-up container of a previous process", "pipeline", c.Pipeline, "container", repo.ShortSHA(c.ID))
		if err := o.rt.Remove(ctx, c.ID); err != nil {
			o.log.Warn("pre-heat: remove leftover warm-up container", "container", repo.ShortSHA(c.ID), "err", err)
		}
	}
}

// run performs one warm-up and records it. It always closes wu.done, and
// unregisters wu unless a newer warm-up of the pipeline replaced it.
func (h *preheater) run(ctx context.Context, wu *warmup) {
	o := h.o
	p := wu.pipeline
	log := o.log.With("pipeline", p.Name, "revision", repo.ShortSHA(wu.revision), "requirements", repo.ShortSHA(p.RequirementsHash))
	defer func() {
		o.uvcache.poke()
		close(wu.done)
		h.mu.Lock()
		if h.warming[p.Name] == wu {
			delete(h.warming, p.Name)
		}
		h.mu.Unlock()
	}()

	// An older warm-up of this pipeline finishes (and records) first, so
	// rows are written in publish order.
	if wu.prev != nil {
		select {
		case <-wu.prev.done:
			wu.prev = nil // let it be collected
		case <-ctx.Done():
			wu.result = warmResult{status: CacheError, interrupted: true}
			return
		}
	}

	// Records are written on a context that survives shutdown, so an
	// interrupted warm-up is recorded as such (and retried later) instead
	// of staying "warming".
	record := func(st, output string, warmedAt time.Time) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		row, err := o.store.GetPipelineStats(cctx, p.Name)
		if err != nil && !errors.Is(err, status.ErrNotFound) {
			log.Error("pre-heat: read pipeline row", "err", err)
			return
		}
		row.Name, row.HasRequirements, row.RequirementsHash = p.Name, true, p.RequirementsHash
		row.CacheStatus, row.CacheOutput = st, output
		if !warmedAt.IsZero() {
			row.LastCacheWarmup = warmedAt
		}
		if err := o.store.UpsertPipeline(cctx, row); err != nil {
			log.Error("pre-heat: record cache state", "status", st, "err", err)
		}
	}

	record(CacheWarming, "", time.Time{})
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		wu.result = warmResult{status: CacheError, interrupted: true}
		record(CacheError, "interrupted: Fast-Flow stopped before the warm-up ran", time.Time{})
		return
	}
	defer func() { <-h.sem }()

	start := o.clk.Now()
	res, output := h.warm(ctx, log, wu)
	res.took = o.clk.Now().Sub(start)
	wu.result = res
	var warmedAt time.Time
	if res.status == CacheWarm {
		warmedAt = o.now()
	}
	record(res.status, output, warmedAt)
	switch res.status {
	case CacheWarm:
		log.Info("pre-heat: requirements warmed", "took", res.took)
	case CacheFailed:
		log.Warn("pre-heat: uv could not install the requirements; runs will install them themselves", "took", res.took, "output", lastLine(output))
	default:
		log.Warn("pre-heat: warm-up did not run to the end", "took", res.took, "output", lastLine(output))
	}
}

// warm runs the warm-up container and returns how it ended and the tail of
// its output.
func (h *preheater) warm(ctx context.Context, log *slog.Logger, wu *warmup) (warmResult, string) {
	o := h.o
	if ctx.Err() != nil {
		return warmResult{status: CacheError, interrupted: true}, "interrupted: Fast-Flow stopped before the warm-up ran"
	}
	wctx, cancel := context.WithTimeout(ctx, preheatTimeout)
	defer cancel()
	spec, err := h.spec(wu)
	if err != nil {
		return warmResult{status: CacheError}, err.Error()
	}
	// Registered before the container exists and dropped once it is
	// removed (this defer runs after the removal's), so a janitor that
	// lists it finds it active.
	h.setActive(spec.RunID, true)
	defer h.setActive(spec.RunID, false)
	id, err := o.rt.Start(wctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return warmResult{status: CacheError, interrupted: true}, "interrupted: Fast-Flow stopped"
		}
		return warmResult{status: CacheError}, "could not start the warm-up container: " + err.Error()
	}
	// Removed on every way out, killing it if it still runs (timeout,
	// shutdown): a warm-up has nothing worth a graceful stop.
	defer func() {
		if err := remove(ctx, o.rt, o.clk, id); err != nil {
			log.Warn("pre-heat: remove warm-up container", "container", repo.ShortSHA(id), "err", err)
		}
	}()

	tail := newTail(preheatOutputLines, preheatOutputBytes)
	sess := attach(wctx, o.rt, o.clk, log, id, sessionSinks{line: func(l runtime.LogLine) bool { tail.add(l.Text); return true }})
	defer sess.close()
	var res waited
	select {
	case res = <-sess.exited:
	case <-wctx.Done():
		res.err = wctx.Err()
	}
	if res.err != nil {
		switch {
		case ctx.Err() != nil:
			return warmResult{status: CacheError, interrupted: true}, tail.with("interrupted: Fast-Flow stopped during the warm-up")
		case wctx.Err() != nil:
			return warmResult{status: CacheFailed}, tail.with(fmt.Sprintf("timed out after %s", preheatTimeout))
		}
		return warmResult{status: CacheError}, tail.with("waiting for the warm-up container: " + res.err.Error())
	}
	// The output ends with the container; drain bounds the wait in case
	// the stream does not say so.
	sess.drain(wctx)
	exit := res.exit
	switch {
	case exit.OOMKilled:
		return warmResult{status: CacheFailed}, tail.with(fmt.Sprintf("killed: out of memory (limit %d MiB)", spec.Limits.MemoryBytes>>20))
	case exit.Code != 0:
		msg := fmt.Sprintf("uv exited with code %d", exit.Code)
		if exit.Error != "" {
			msg += ": " + exit.Error
		}
		return warmResult{status: CacheFailed}, tail.with(msg)
	}
	return warmResult{status: CacheWarm}, tail.String()
}

func (h *preheater) setActive(runID string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.active[runID] = true
	} else {
		delete(h.active, runID)
	}
}

// addActive adds the run IDs of the warm-up containers in use to ids.
func (h *preheater) addActive(ids map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.active {
		ids[id] = true
	}
}

// spec is the warm-up container: the run's container (containerSpec) with
// the command the run's wrapper uses to prepare the environment, so both
// fill exactly the same uv cache entries.
func (h *preheater) spec(wu *warmup) (runtime.RunSpec, error) {
	id, err := status.NewRunID()
	if err != nil {
		return runtime.RunSpec{}, fmt.Errorf("warm-up id: %w", err)
	}
	p := wu.pipeline
	cmd := []string{"uv", "run", "--with-requirements", path.Join(codeTarget, p.Name, "requirements.txt"), "python", "-c", "pass"}
	spec := h.o.containerSpec("preheat", "preheat-"+id, wu.revision, p, cmd, nil)
	if spec.Limits.MemoryBytes <= 0 {
		spec.Limits.MemoryBytes = preheatDefaultMemory
	}
	spec.Log = runtime.LogLimits{MaxSize: "1m", MaxFiles: 1}
	return spec, nil
}

// wait holds a run back while its pipeline's requirements are being
// warmed. It reports false if ctx ended or stop was closed meanwhile, or if
// the warm-up was cut short by shutdown (the run then stays PENDING for the
// next start to settle, rather than starting a container while the
// operator stops). note writes to the run's log; onWait is called once if
// the run has to wait.
func (h *preheater) wait(ctx context.Context, stop <-chan struct{}, p repo.Pipeline, note func(string), onWait func()) bool {
	if h == nil || !p.HasRequirements {
		return ctx.Err() == nil
	}
	h.mu.Lock()
	wu := h.warming[p.Name]
	h.mu.Unlock()
	if wu == nil {
		return ctx.Err() == nil
	}
	note("waiting for dependency installation")
	if onWait != nil {
		onWait()
	}
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-wu.done:
	}
	res := wu.result
	switch {
	case res.interrupted:
		return false
	case res.status == CacheWarm:
		note(fmt.Sprintf("dependencies installed (%s)", res.took.Round(time.Millisecond)))
	default:
		note("dependency installation did not succeed; the run installs the requirements itself")
	}
	return ctx.Err() == nil
}

// tail keeps the last lines of an output within a line and byte budget.
type tail struct {
	mu       sync.Mutex
	maxLines int
	maxBytes int
	lines    []string
	size     int
}

func newTail(maxLines, maxBytes int) *tail {
	return &tail{maxLines: maxLines, maxBytes: maxBytes}
}

func (t *tail) add(line string) {
	if len(line) > t.maxBytes {
		line = line[len(line)-t.maxBytes:]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	t.size += len(line) + 1
	for len(t.lines) > t.maxLines || t.size > t.maxBytes {
		t.size -= len(t.lines[0]) + 1
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// with is the tail followed by the operator's own closing line.
func (t *tail) with(line string) string {
	if s := t.String(); s != "" {
		return s + "\n" + line
	}
	return line
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
