package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

const (
	defaultRetentionLimit = 500
	maxRetentionLimit     = 5000
)

// dueRun is the predicate "run <alias> is due" of status.RetentionStore,
// with the arguments it binds. The pipeline's newest run, and its
// KeepRuns-th newest, are found by a row-value comparison with one row of
// the (pipeline, queued_at, id) index; where the pipeline has fewer runs
// the comparison is NULL and so not due.
func (s *Store) dueRun(alias string, q status.RetentionQuery) (string, []any) {
	newest := func(offset int) string {
		return fmt.Sprintf(`(%[1]s.queued_at, %[1]s.id) < (SELECT n.queued_at, n.id FROM runs n
			WHERE n.pipeline = %[1]s.pipeline ORDER BY n.queued_at DESC, n.id DESC LIMIT 1 OFFSET %[2]d)`, alias, offset)
	}
	var rules []string
	var args []any
	if q.KeepRuns > 0 {
		rules = append(rules, newest(q.KeepRuns-1))
	}
	if !q.Before.IsZero() {
		rules = append(rules, alias+".queued_at < ?")
		args = append(args, s.d.timeArg(q.Before))
	}
	pred := fmt.Sprintf(`%[1]s.status NOT IN ('PENDING', 'RUNNING') AND %[2]s AND (%[3]s)`,
		alias, newest(0), strings.Join(rules, " OR "))
	return pred, args
}

// RunsDue implements status.RetentionStore.
func (s *Store) RunsDue(ctx context.Context, q status.RetentionQuery) ([]status.Run, error) {
	if q.Pipeline == "" && q.KeepRuns > 0 {
		return nil, fmt.Errorf("runs due: %w: KeepRuns counts the runs of one pipeline, and none is named", status.ErrInvalidArgument)
	}
	if q.KeepRuns <= 0 && q.Before.IsZero() {
		return nil, nil
	}
	query, args := s.runsDueQuery(q)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("runs due of %s: %w", q.Pipeline, err)
	}
	defer rows.Close()
	var out []status.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("runs due of %s: %w", q.Pipeline, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runs due of %s: %w", q.Pipeline, err)
	}
	return out, nil
}

// runsDueQuery is RunsDue's statement for q, which has a rule, with its
// arguments. Across pipelines (q.Pipeline empty) it walks runs_queued, so
// a batch is the oldest runs of the whole table, which share their pages:
// deleting them rewrites a few pages of the table and its indexes, where a
// batch of one pipeline's runs, interleaved in time with the others',
// touches a page a run.
func (s *Store) runsDueQuery(q status.RetentionQuery) (string, []any) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = defaultRetentionLimit
	case limit > maxRetentionLimit:
		limit = maxRetentionLimit
	}
	self, selfArgs := s.dueRun("r", q)
	retry, retryArgs := s.dueRun("c", q)
	where := self + ` AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.retry_of = r.id AND (` + retry + `) IS NOT TRUE)`
	args := slices.Concat(selfArgs, retryArgs)
	if q.Pipeline != "" {
		where = `r.pipeline = ? AND ` + where
		args = append([]any{q.Pipeline}, args...)
	}
	if !q.Rows {
		where += ` AND r.log_removed_at IS NULL AND (r.log_path <> '' OR r.metrics_path <> '')`
	}
	cols := "r." + strings.Join(strings.Fields(strings.ReplaceAll(runColumns, ",", " ")), ", r.")
	return `SELECT ` + cols + ` FROM runs r WHERE ` + where + ` ORDER BY r.queued_at, r.id LIMIT ?`, append(args, limit)
}

// idArgs turns ids into query arguments.
func idArgs(ids []string) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// MarkLogsRemoved implements status.RetentionStore.
func (s *Store) MarkLogsRemoved(ctx context.Context, ids []string, at time.Time, reason string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := append([]any{s.d.timeArg(at), reason}, idArgs(ids)...)
	res, err := s.exec(ctx, `UPDATE runs SET log_path = '', metrics_path = '', log_removed_at = ?,
		log_removed_reason = ? WHERE id IN (`+placeholders(len(ids))+`)
		AND status NOT IN ('PENDING', 'RUNNING')`, args...)
	if err != nil {
		return 0, fmt.Errorf("mark logs removed: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark logs removed: %w", err)
	}
	return n, nil
}

// DeleteRuns implements status.RetentionStore.
func (s *Store) DeleteRuns(ctx context.Context, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	fires, runs := deleteRunsStatements(len(ids))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.execOn(ctx, tx, fires, append(idArgs(ids), idArgs(ids)...)...); err != nil {
			return err
		}
		res, err := s.execOn(ctx, tx, runs, idArgs(ids)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete runs: %w", err)
	}
	return n, nil
}

// deleteRunsStatements are DeleteRuns' statements for n IDs: the fires of
// the finished runs among them (2n arguments, the IDs twice), then those
// runs (the IDs).
func deleteRunsStatements(n int) (fires, runs string) {
	in := `(` + placeholders(n) + `)`
	return `DELETE FROM schedule_fires WHERE run_id IN ` + in +
			` AND run_id IN (SELECT id FROM runs WHERE id IN ` + in + ` AND status NOT IN ('PENDING', 'RUNNING'))`,
		`DELETE FROM runs WHERE id IN ` + in + ` AND status NOT IN ('PENDING', 'RUNNING')`
}

// recordsBeforeStatements are DeleteRecordsBefore's statements, each
// taking the cut and the limit.
var recordsBeforeStatements = []string{
	`DELETE FROM schedule_fires WHERE fire_key IN (SELECT f.fire_key FROM schedule_fires f
		WHERE f.created_at < ? AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = f.run_id)
		ORDER BY f.created_at LIMIT ?)`,
	`DELETE FROM webhook_deliveries WHERE delivery_id IN (SELECT d.delivery_id FROM webhook_deliveries d
		WHERE d.received_at < ? ORDER BY d.received_at LIMIT ?)`,
}

// DeleteRecordsBefore implements status.RetentionStore.
func (s *Store) DeleteRecordsBefore(ctx context.Context, t time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = defaultRetentionLimit
	}
	var total int64
	for _, q := range recordsBeforeStatements {
		res, err := s.exec(ctx, q, s.d.timeArg(t), limit)
		if err != nil {
			return total, fmt.Errorf("delete records before %s: %w", t.UTC().Format(time.RFC3339), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("delete records: %w", err)
		}
		total += n
	}
	return total, nil
}
