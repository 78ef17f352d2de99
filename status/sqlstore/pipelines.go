package sqlstore

import (
	"context"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

const pipelineColumns = `name, has_requirements, requirements_hash, last_cache_warmup,
	cache_status, cache_output, total_runs, successful_runs, failed_runs, cancelled_runs,
	interrupted_runs, counters_reset_at`

// UpsertPipeline implements status.PipelineStore.
func (s *Store) UpsertPipeline(ctx context.Context, p status.Pipeline) error {
	if p.Name == "" {
		return fmt.Errorf("upsert pipeline: %w: empty name", status.ErrInvalidArgument)
	}
	_, err := s.exec(ctx, `INSERT INTO pipelines (name, has_requirements, requirements_hash,
		last_cache_warmup, cache_status, cache_output) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET has_requirements = excluded.has_requirements,
		requirements_hash = excluded.requirements_hash,
		last_cache_warmup = excluded.last_cache_warmup,
		cache_status = excluded.cache_status, cache_output = excluded.cache_output`,
		p.Name, p.HasRequirements, p.RequirementsHash, s.d.timeArg(p.LastCacheWarmup),
		p.CacheStatus, p.CacheOutput)
	if err != nil {
		return fmt.Errorf("upsert pipeline %s: %w", p.Name, err)
	}
	return nil
}

// GetPipelineStats implements status.PipelineStore.
func (s *Store) GetPipelineStats(ctx context.Context, name string) (status.Pipeline, error) {
	p, err := scanPipeline(s.queryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE name = ?`, name))
	if err != nil {
		return status.Pipeline{}, fmt.Errorf("get pipeline %s: %w", name, notFound(err))
	}
	return p, nil
}

// ListPipelines implements status.PipelineStore.
func (s *Store) ListPipelines(ctx context.Context) ([]status.Pipeline, error) {
	rows, err := s.query(ctx, `SELECT `+pipelineColumns+` FROM pipelines ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	defer rows.Close()
	var ps []status.Pipeline
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return ps, nil
}

// IncrementCounters implements status.PipelineStore. The increments happen
// inside the database in one statement, so concurrent callers never read a
// stale count and write it back.
func (s *Store) IncrementCounters(ctx context.Context, name string, st status.RunStatus) error {
	return s.incrementCounters(ctx, s.w, name, st)
}

// counterDeltas are the amounts one run ending in a final status adds to
// total_runs, successful_runs, failed_runs, cancelled_runs and
// interrupted_runs, in that order.
func counterDeltas(st status.RunStatus) ([5]int64, error) {
	switch st {
	case status.RunSuccess:
		return [5]int64{1, 1, 0, 0, 0}, nil
	case status.RunFailed, status.RunTimeout:
		return [5]int64{1, 0, 1, 0, 0}, nil
	case status.RunCancelled:
		return [5]int64{0, 0, 0, 1, 0}, nil
	case status.RunInterrupted:
		return [5]int64{0, 0, 0, 0, 1}, nil
	}
	return [5]int64{}, fmt.Errorf("%w: status %q is not final", status.ErrInvalidArgument, st)
}

// incrementCounters is IncrementCounters on c.
func (s *Store) incrementCounters(ctx context.Context, c conn, name string, st status.RunStatus) error {
	if name == "" {
		return fmt.Errorf("increment counters: %w: empty name", status.ErrInvalidArgument)
	}
	d, err := counterDeltas(st)
	if err != nil {
		return fmt.Errorf("increment counters of %s: %w", name, err)
	}
	_, err = s.execOn(ctx, c, `INSERT INTO pipelines (name, total_runs, successful_runs, failed_runs,
		cancelled_runs, interrupted_runs) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET total_runs = pipelines.total_runs + excluded.total_runs,
		successful_runs = pipelines.successful_runs + excluded.successful_runs,
		failed_runs = pipelines.failed_runs + excluded.failed_runs,
		cancelled_runs = pipelines.cancelled_runs + excluded.cancelled_runs,
		interrupted_runs = pipelines.interrupted_runs + excluded.interrupted_runs`,
		name, d[0], d[1], d[2], d[3], d[4])
	if err != nil {
		return fmt.Errorf("increment counters of %s: %w", name, err)
	}
	return nil
}

// ResetCounters implements status.PipelineStore.
func (s *Store) ResetCounters(ctx context.Context, name string) error {
	res, err := s.exec(ctx, `UPDATE pipelines SET total_runs = 0, successful_runs = 0,
		failed_runs = 0, cancelled_runs = 0, interrupted_runs = 0, counters_reset_at = ? WHERE name = ?`, s.d.timeArg(s.now()), name)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("reset counters of %s: %w", name, err)
	}
	return nil
}

func scanPipeline(row rowScanner) (status.Pipeline, error) {
	var p status.Pipeline
	err := row.Scan(&p.Name, &p.HasRequirements, &p.RequirementsHash, scanTime(&p.LastCacheWarmup),
		&p.CacheStatus, &p.CacheOutput, &p.TotalRuns, &p.SuccessfulRuns, &p.FailedRuns,
		&p.CancelledRuns, &p.InterruptedRuns, scanTime(&p.CountersResetAt))
	return p, err
}
