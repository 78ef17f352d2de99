package sqlstore

import (
	"context"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

const pipelineColumns = `name, has_requirements, requirements_hash, last_cache_warmup,
	cache_status, cache_output, total_runs, successful_runs, failed_runs, counters_reset_at`

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
func (s *Store) IncrementCounters(ctx context.Context, name string, success bool) error {
	if name == "" {
		return fmt.Errorf("increment counters: %w: empty name", status.ErrInvalidArgument)
	}
	var ok, failed int64 = 0, 1
	if success {
		ok, failed = 1, 0
	}
	_, err := s.exec(ctx, `INSERT INTO pipelines (name, total_runs, successful_runs, failed_runs)
		VALUES (?, 1, ?, ?)
		ON CONFLICT (name) DO UPDATE SET total_runs = pipelines.total_runs + 1,
		successful_runs = pipelines.successful_runs + excluded.successful_runs,
		failed_runs = pipelines.failed_runs + excluded.failed_runs`,
		name, ok, failed)
	if err != nil {
		return fmt.Errorf("increment counters of %s: %w", name, err)
	}
	return nil
}

// ResetCounters implements status.PipelineStore.
func (s *Store) ResetCounters(ctx context.Context, name string) error {
	res, err := s.exec(ctx, `UPDATE pipelines SET total_runs = 0, successful_runs = 0,
		failed_runs = 0, counters_reset_at = ? WHERE name = ?`, s.d.timeArg(s.now()), name)
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
		scanTime(&p.CountersResetAt))
	return p, err
}
