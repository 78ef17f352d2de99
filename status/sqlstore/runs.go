package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

const (
	defaultRunLimit = 50
	maxRunLimit     = 1000
)

const runColumns = `id, pipeline, status, error_type, exit_code, message, revision,
	trigger_type, triggered_by, attempt, retry_of, container_id, parameters, env_names,
	queued_at, started_at, finished_at, uv_version, setup_duration_us, peak_cpu_percent,
	peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path`

// runMutable are the columns UpdateRun and TransitionRun write, in the
// order of mutableArgs.
const runMutable = `status = ?, error_type = ?, exit_code = ?, message = ?, revision = ?,
	container_id = ?, env_names = ?, started_at = ?, finished_at = ?, uv_version = ?,
	setup_duration_us = ?, peak_cpu_percent = ?, peak_ram_bytes = ?,
	soft_limit_exceeded = ?, log_path = ?, metrics_path = ?`

// normRun brings r to the form a read returns, so CreateRun's answer equals
// a later GetRun.
func normRun(r status.Run) status.Run {
	r.QueuedAt = normTime(r.QueuedAt)
	r.StartedAt = normTime(r.StartedAt)
	r.FinishedAt = normTime(r.FinishedAt)
	r.SetupDuration = r.SetupDuration.Truncate(time.Microsecond)
	if len(r.Parameters) == 0 {
		r.Parameters = nil
	}
	if len(r.EnvNames) == 0 {
		r.EnvNames = nil
	}
	if r.ExitCode != nil {
		c := *r.ExitCode
		r.ExitCode = &c
	}
	return r
}

func checkRun(r status.Run) error {
	if r.ID == "" {
		return fmt.Errorf("%w: run without id", status.ErrInvalidArgument)
	}
	if !r.Status.Valid() {
		return fmt.Errorf("%w: run status %q", status.ErrInvalidArgument, r.Status)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Store) mutableArgs(r status.Run) ([]any, error) {
	env, err := json.Marshal(r.EnvNames)
	if err != nil {
		return nil, fmt.Errorf("encode env names: %w", err)
	}
	if r.EnvNames == nil {
		env = []byte("[]")
	}
	var exit any
	if r.ExitCode != nil {
		exit = int64(*r.ExitCode)
	}
	return []any{
		string(r.Status), string(r.ErrorType), exit, r.Message, r.Revision,
		r.ContainerID, string(env), s.d.timeArg(r.StartedAt), s.d.timeArg(r.FinishedAt), r.UVVersion,
		r.SetupDuration.Microseconds(), r.PeakCPUPercent, r.PeakRAMBytes,
		r.SoftLimitExceeded, r.LogPath, r.MetricsPath,
	}, nil
}

// CreateRun implements status.RunStore.
func (s *Store) CreateRun(ctx context.Context, r status.Run) (status.Run, error) {
	if r.Pipeline == "" {
		return status.Run{}, fmt.Errorf("create run: %w: empty pipeline", status.ErrInvalidArgument)
	}
	if r.ID == "" {
		id, err := status.NewRunID()
		if err != nil {
			return status.Run{}, err
		}
		r.ID = id
	}
	if r.QueuedAt.IsZero() {
		r.QueuedAt = s.now()
	}
	if r.Status == "" {
		r.Status = status.RunPending
	}
	if r.Attempt == 0 {
		r.Attempt = 1
	}
	r = normRun(r)
	if err := checkRun(r); err != nil {
		return status.Run{}, fmt.Errorf("create run: %w", err)
	}
	params := []byte("{}")
	if r.Parameters != nil {
		var err error
		if params, err = json.Marshal(r.Parameters); err != nil {
			return status.Run{}, fmt.Errorf("encode parameters: %w", err)
		}
	}
	mut, err := s.mutableArgs(r)
	if err != nil {
		return status.Run{}, err
	}
	args := []any{r.ID, r.Pipeline, string(r.Trigger), r.TriggeredBy, int64(r.Attempt),
		nullString(r.RetryOf), string(params), s.d.timeArg(r.QueuedAt)}
	args = append(args, mut...)
	_, err = s.exec(ctx, `INSERT INTO runs (id, pipeline, trigger_type, triggered_by, attempt,
		retry_of, parameters, queued_at,
		status, error_type, exit_code, message, revision, container_id, env_names,
		started_at, finished_at, uv_version, setup_duration_us, peak_cpu_percent,
		peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path)
		VALUES (`+placeholders(len(args))+`)`, args...)
	if err != nil {
		return status.Run{}, fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return r, nil
}

// GetRun implements status.RunStore.
func (s *Store) GetRun(ctx context.Context, id string) (status.Run, error) {
	r, err := scanRun(s.queryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if err != nil {
		return status.Run{}, fmt.Errorf("get run %s: %w", id, notFound(err))
	}
	return r, nil
}

// UpdateRun implements status.RunStore.
func (s *Store) UpdateRun(ctx context.Context, r status.Run) error {
	r = normRun(r)
	if err := checkRun(r); err != nil {
		return fmt.Errorf("update run: %w", err)
	}
	args, err := s.mutableArgs(r)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, `UPDATE runs SET `+runMutable+` WHERE id = ?`, append(args, r.ID)...)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return nil
}

// TransitionRun implements status.RunStore.
func (s *Store) TransitionRun(ctx context.Context, r status.Run, from ...status.RunStatus) (bool, error) {
	r = normRun(r)
	if err := checkRun(r); err != nil {
		return false, fmt.Errorf("transition run: %w", err)
	}
	if len(from) == 0 {
		return false, fmt.Errorf("transition run %s: %w: no source status", r.ID, status.ErrInvalidArgument)
	}
	args, err := s.mutableArgs(r)
	if err != nil {
		return false, err
	}
	args = append(args, r.ID)
	for _, st := range from {
		args = append(args, string(st))
	}
	res, err := s.exec(ctx, `UPDATE runs SET `+runMutable+` WHERE id = ? AND status IN (`+placeholders(len(from))+`)`, args...)
	if err != nil {
		return false, fmt.Errorf("transition run %s: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("transition run %s: %w", r.ID, err)
	}
	if n > 0 {
		return true, nil
	}
	// Nothing changed: either the run is elsewhere in its life or missing.
	var one int
	err = s.queryRow(ctx, `SELECT 1 FROM runs WHERE id = ?`, r.ID).Scan(&one)
	if err != nil {
		return false, fmt.Errorf("transition run %s: %w", r.ID, notFound(err))
	}
	return false, nil
}

// ListRuns implements status.RunStore.
func (s *Store) ListRuns(ctx context.Context, f status.RunFilter) (status.RunPage, error) {
	q, args, limit, err := s.listRunsQuery(f)
	if err != nil {
		return status.RunPage{}, fmt.Errorf("list runs: %w", err)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return status.RunPage{}, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var page status.RunPage
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return status.RunPage{}, fmt.Errorf("list runs: %w", err)
		}
		page.Runs = append(page.Runs, r)
	}
	if err := rows.Err(); err != nil {
		return status.RunPage{}, fmt.Errorf("list runs: %w", err)
	}
	if len(page.Runs) > limit {
		page.Runs = page.Runs[:limit]
		last := page.Runs[limit-1]
		page.NextCursor = status.RunCursor{QueuedAt: last.QueuedAt, ID: last.ID}.Encode()
	}
	return page, nil
}

// listRunsQuery builds the keyset query for f. It asks for one row more
// than the page size: that row's presence is what says a next page exists.
func (s *Store) listRunsQuery(f status.RunFilter) (string, []any, int, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultRunLimit
	case limit > maxRunLimit:
		limit = maxRunLimit
	}
	cmp, dir := "<", "DESC"
	switch f.Order {
	case "", status.OrderDesc:
	case status.OrderAsc:
		cmp, dir = ">", "ASC"
	default:
		return "", nil, 0, fmt.Errorf("%w: order %q", status.ErrInvalidArgument, f.Order)
	}

	var where []string
	var args []any
	if f.Pipeline != "" {
		where = append(where, "pipeline = ?")
		args = append(args, f.Pipeline)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if len(f.Triggers) > 0 {
		where = append(where, "trigger_type IN ("+placeholders(len(f.Triggers))+")")
		for _, tr := range f.Triggers {
			args = append(args, string(tr))
		}
	}
	if f.RetryOf != "" {
		where = append(where, "retry_of = ?")
		args = append(args, f.RetryOf)
	}
	if !f.Since.IsZero() {
		where = append(where, "queued_at >= ?")
		args = append(args, s.d.timeArg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "queued_at < ?")
		args = append(args, s.d.timeArg(f.Until))
	}
	if f.Cursor != "" {
		cur, err := status.DecodeRunCursor(f.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		// A row-value comparison is one range on the (queued_at, id)
		// index in both databases.
		where = append(where, "(queued_at, id) "+cmp+" (?, ?)")
		args = append(args, s.d.timeArg(cur.QueuedAt), cur.ID)
	}
	q := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY queued_at ` + dir + `, id ` + dir + ` LIMIT ?`
	args = append(args, limit+1)
	return q, args, limit, nil
}

// ActiveRevisions implements status.RunStore.
func (s *Store) ActiveRevisions(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, `SELECT DISTINCT revision FROM runs
		WHERE status IN ('PENDING', 'RUNNING') AND revision <> '' ORDER BY revision`)
	if err != nil {
		return nil, fmt.Errorf("active revisions: %w", err)
	}
	defer rows.Close()
	var revs []string
	for rows.Next() {
		var rev string
		if err := rows.Scan(&rev); err != nil {
			return nil, fmt.Errorf("active revisions: %w", err)
		}
		revs = append(revs, rev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("active revisions: %w", err)
	}
	return revs, nil
}

// DeleteRunsBefore implements status.RunStore.
func (s *Store) DeleteRunsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM runs WHERE queued_at < ? AND status NOT IN ('PENDING', 'RUNNING')`, s.d.timeArg(t))
	if err != nil {
		return 0, fmt.Errorf("delete runs before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete runs: %w", err)
	}
	return n, nil
}

type rowScanner interface {
	Scan(dest ...any) error
}

func scanRun(row rowScanner) (status.Run, error) {
	var (
		r                 status.Run
		st, errType, trig string
		exit              sql.NullInt64
		attempt, setupUS  int64
		retryOf           sql.NullString
		params, env       string
	)
	err := row.Scan(&r.ID, &r.Pipeline, &st, &errType, &exit, &r.Message, &r.Revision,
		&trig, &r.TriggeredBy, &attempt, &retryOf, &r.ContainerID, &params, &env,
		scanTime(&r.QueuedAt), scanTime(&r.StartedAt), scanTime(&r.FinishedAt), &r.UVVersion,
		&setupUS, &r.PeakCPUPercent, &r.PeakRAMBytes, &r.SoftLimitExceeded, &r.LogPath, &r.MetricsPath)
	if err != nil {
		return status.Run{}, err
	}
	r.Status, r.ErrorType, r.Trigger = status.RunStatus(st), status.ErrorType(errType), status.Trigger(trig)
	if exit.Valid {
		c := int(exit.Int64)
		r.ExitCode = &c
	}
	r.Attempt = int(attempt)
	r.RetryOf = retryOf.String
	r.SetupDuration = time.Duration(setupUS) * time.Microsecond
	if err := json.Unmarshal([]byte(params), &r.Parameters); err != nil {
		return status.Run{}, fmt.Errorf("decode parameters of run %s: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(env), &r.EnvNames); err != nil {
		return status.Run{}, fmt.Errorf("decode env names of run %s: %w", r.ID, err)
	}
	return normRun(r), nil
}
