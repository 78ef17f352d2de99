package operator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/health"
)

// The reasons MarkLogsRemoved records, shown as "log removed by retention
// on <time> (<reason>)".
const (
	reasonKeepRuns   = "LOG_RETENTION_RUNS"
	reasonMaxAge     = "LOG_RETENTION_DAYS"
	reasonPipelineJS = "pipeline.json retention"
)

// RetentionConfig is what the retention sweeper keeps. Zero values keep
// everything, so a zero RetentionConfig never removes anything.
type RetentionConfig struct {
	// Runs keeps the log and metrics files of this many newest runs of
	// each pipeline (LOG_RETENTION_RUNS); 0 has no count rule.
	Runs int
	// Days removes the files of runs queued more than this many days ago
	// (LOG_RETENTION_DAYS); 0 has no age rule.
	Days int
	// HistoryDays removes the rows of runs queued more than this many days
	// ago, with their files, schedule fires and webhook deliveries
	// (RUN_HISTORY_DAYS); 0 keeps every row.
	HistoryDays int
	// Interval is the sweep period; 0 means one hour.
	Interval time.Duration
	// Batch bounds each store call; 0 means 500.
	Batch int
}

// Validate refuses negative settings.
func (c RetentionConfig) Validate() error {
	if c.Runs < 0 || c.Days < 0 || c.HistoryDays < 0 || c.Interval < 0 || c.Batch < 0 {
		return errors.New("operator: retention settings must not be negative")
	}
	return nil
}

// retention is the sweeper: it removes the files of runs that are due and,
// with HistoryDays, their rows, in batches. run owns its loop; poke asks
// for a sweep soon (after a run finished) without ever blocking.
type retention struct {
	cfg   RetentionConfig
	store status.Store
	clk   Clock
	log   *slog.Logger
	// specs returns the retention object of a pipeline of the live
	// revision, nil when it has none or is not live.
	specs func(pipeline string) *schemas.Retention
	obs   Observer
	poked chan struct{}
}

func newRetention(cfg RetentionConfig, store status.Store, clk Clock, log *slog.Logger,
	specs func(string) *schemas.Retention, obs Observer) *retention {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if obs == nil {
		obs = nopObserver{}
	}
	return &retention{cfg: cfg, store: store, clk: clk, log: log, specs: specs, obs: obs, poked: make(chan struct{}, 1)}
}

// poke asks for a sweep; pokes while one is pending merge.
func (rt *retention) poke() {
	select {
	case rt.poked <- struct{}{}:
	default:
	}
}

// run sweeps at once, then every Interval and after each poke, until ctx
// ends. Errors are logged; the next sweep tries again.
func (rt *retention) run(ctx context.Context) {
	t := rt.clk.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			t.Reset(rt.cfg.Interval)
		case <-rt.poked:
		}
		if _, err := rt.sweep(ctx); err != nil && ctx.Err() == nil {
			rt.log.Error("retention sweep", "err", err)
		}
	}
}

// sweepResult counts what one sweep removed.
type sweepResult struct {
	Logs, Rows, Records int64
}

// rules returns the query and reason for one pipeline's files.
func (rt *retention) rules(pipeline string, now time.Time) (status.RetentionQuery, string) {
	runs, days, reason := rt.cfg.Runs, rt.cfg.Days, ""
	if o := rt.specs(pipeline); o != nil {
		reason = reasonPipelineJS
		if o.Runs != nil {
			runs = *o.Runs
		}
		if o.Days != nil {
			days = *o.Days
		}
	}
	q := status.RetentionQuery{Pipeline: pipeline, KeepRuns: runs, Limit: rt.cfg.Batch}
	if days > 0 {
		q.Before = now.AddDate(0, 0, -days)
	}
	return q, reason
}

// sweep runs one pass over every pipeline the store counts runs for.
func (rt *retention) sweep(ctx context.Context) (sweepResult, error) {
	var res sweepResult
	pipelines, err := rt.store.ListPipelines(ctx)
	if err != nil {
		return res, fmt.Errorf("retention: %w", err)
	}
	now := rt.clk.Now().UTC()
	var errs []error
	if rt.cfg.HistoryDays > 0 {
		// One rule for every pipeline, so one walk across them, oldest
		// first: a batch is runs of the same hours, which share their
		// pages in the table and its indexes. Batches of one pipeline at
		// a time, interleaved in time with the others, rewrite a page a
		// run, which took a sweep over 100,000 runs from seconds to
		// minutes (BenchmarkRetentionSweep).
		q := status.RetentionQuery{Before: now.AddDate(0, 0, -rt.cfg.HistoryDays), Rows: true, Limit: rt.cfg.Batch}
		n, err := rt.drain(ctx, q, func(runs []status.Run) (int64, error) { return rt.store.DeleteRuns(ctx, runIDs(runs)) })
		res.Rows += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range pipelines {
		q, reason := rt.rules(p.Name, now)
		n, err := rt.drain(ctx, q, func(runs []status.Run) (int64, error) {
			return rt.mark(ctx, runs, q.Before, reason, now)
		})
		res.Logs += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if rt.cfg.HistoryDays > 0 {
		cut := now.AddDate(0, 0, -rt.cfg.HistoryDays)
		for ctx.Err() == nil {
			n, err := rt.store.DeleteRecordsBefore(ctx, cut, rt.cfg.Batch)
			res.Records += n
			if err != nil {
				errs = append(errs, fmt.Errorf("retention: %w", err))
				break
			}
			if n == 0 {
				break
			}
		}
	}
	for kind, n := range map[string]int64{"logs": res.Logs, "runs": res.Rows, "records": res.Records} {
		if n > 0 {
			rt.obs.Removed(ComponentRetention, kind, int(n))
		}
	}
	if res.Logs+res.Rows+res.Records > 0 {
		rt.log.Info("retention sweep", "logs_removed", res.Logs, "runs_deleted", res.Rows, "records_deleted", res.Records)
	}
	return res, errors.Join(errs...)
}

// drain takes batches of due runs, removes their files and applies done to
// their IDs, until a batch comes back short. A file that cannot be removed
// keeps its run out of done, so its row still names it and the next sweep
// tries again; the walk goes on past it, so one stuck file (the rows walk
// spans every pipeline) holds up only the runs in its batch. A batch in
// which nothing went ends the walk, since the next would be the same.
func (rt *retention) drain(ctx context.Context, q status.RetentionQuery, done func([]status.Run) (int64, error)) (int64, error) {
	what := "rows of every pipeline"
	if q.Pipeline != "" {
		what = q.Pipeline
	}
	var total int64
	// The runs whose files stuck come back in every later batch; their
	// errors are reported once.
	var stuck error
	for ctx.Err() == nil {
		runs, err := rt.store.RunsDue(ctx, q)
		if err != nil {
			return total, fmt.Errorf("retention of %s: %w", what, err)
		}
		gone, failed := removeFiles(runs)
		if stuck == nil {
			stuck = failed
		}
		n, err := done(gone)
		total += n
		if err != nil {
			return total, fmt.Errorf("retention of %s: %w", what, err)
		}
		if len(runs) < q.Limit || n == 0 {
			break
		}
	}
	if stuck != nil {
		return total, fmt.Errorf("retention of %s: %w", what, stuck)
	}
	return total, nil
}

// mark records the removal of runs' files, each with the rule that made it
// due: the pipeline.json override when reason is set, else the age rule
// for runs queued before cut and the count rule for the others.
func (rt *retention) mark(ctx context.Context, runs []status.Run, cut time.Time, reason string, now time.Time) (int64, error) {
	byReason := map[string][]string{}
	for _, r := range runs {
		why := reason
		if why == "" {
			why = reasonKeepRuns
			if !cut.IsZero() && r.QueuedAt.Before(cut) {
				why = reasonMaxAge
			}
		}
		byReason[why] = append(byReason[why], r.ID)
	}
	var total int64
	for why, ids := range byReason {
		n, err := rt.store.MarkLogsRemoved(ctx, ids, now, why)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func runIDs(runs []status.Run) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

// fileRemovers is how many runs' files removeFiles removes at once. An
// unlink waits on the file system's journal, not on a core, so a few in
// flight keep a batch of 500 runs (1,000 files) from taking a thousand
// round trips end to end.
const fileRemovers = 8

// removeFiles removes the files of runs and returns the runs whose files
// are all gone, in their order, and the errors of the others.
func removeFiles(runs []status.Run) ([]status.Run, error) {
	errs := make([]error, len(runs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(fileRemovers, len(runs)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(runs); i = int(next.Add(1)) - 1 {
				errs[i] = removeRunFiles(runs[i])
			}
		})
	}
	wg.Wait()
	gone := make([]status.Run, 0, len(runs))
	for i, r := range runs {
		if errs[i] == nil {
			gone = append(gone, r)
		}
	}
	return gone, errors.Join(errs...)
}

// removeRunFiles removes a run's log, metrics and health files; files gone
// already are fine.
func removeRunFiles(r status.Run) error {
	var errs []error
	healthPath, err := health.Path(r.MetricsPath, r.ID)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range []string{r.LogPath, r.MetricsPath, healthPath} {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s of run %s: %w", p, r.ID, err))
		}
	}
	return errors.Join(errs...)
}
