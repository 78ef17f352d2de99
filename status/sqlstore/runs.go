package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
	peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path, admitted, not_before,
	request_env, log_incomplete, log_removed_at, log_removed_reason, replica_id`

// runMutable are the columns UpdateRun and TransitionRun write, in the
// order of mutableArgs.
const runMutable = `status = ?, error_type = ?, exit_code = ?, message = ?, revision = ?,
	container_id = ?, env_names = ?, started_at = ?, finished_at = ?, uv_version = ?,
	setup_duration_us = ?, peak_cpu_percent = ?, peak_ram_bytes = ?,
	soft_limit_exceeded = ?, log_path = ?, metrics_path = ?, admitted = ?, not_before = ?,
	request_env = ?, log_incomplete = ?, replica_id = ?`

// normRun brings r to the form a read returns, so CreateRun's answer equals
// a later GetRun. A RUNNING run holds a slot whatever the caller said:
// enforcing it on every write means no path can start a run that the slot
// count then misses.
func normRun(r status.Run) status.Run {
	r.QueuedAt = normTime(r.QueuedAt)
	r.StartedAt = normTime(r.StartedAt)
	r.FinishedAt = normTime(r.FinishedAt)
	r.NotBefore = normTime(r.NotBefore)
	r.LogRemovedAt = normTime(r.LogRemovedAt)
	r.SetupDuration = r.SetupDuration.Truncate(time.Microsecond)
	if r.Status == status.RunRunning {
		r.Admitted = true
	}
	if len(r.Parameters) == 0 {
		r.Parameters = nil
	}
	if len(r.RequestEnv) == 0 {
		r.RequestEnv = nil
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

// jsonObject encodes a map as the JSON object the TEXT columns hold, nil
// as {} so the column never needs a NULL case.
func jsonObject(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func (s *Store) mutableArgs(r status.Run) ([]any, error) {
	env, err := json.Marshal(r.EnvNames)
	if err != nil {
		return nil, fmt.Errorf("encode env names: %w", err)
	}
	if r.EnvNames == nil {
		env = []byte("[]")
	}
	reqEnv, err := jsonObject(r.RequestEnv)
	if err != nil {
		return nil, fmt.Errorf("encode request env: %w", err)
	}
	var exit any
	if r.ExitCode != nil {
		exit = int64(*r.ExitCode)
	}
	return []any{
		string(r.Status), string(r.ErrorType), exit, r.Message, r.Revision,
		r.ContainerID, string(env), s.d.timeArg(r.StartedAt), s.d.timeArg(r.FinishedAt), r.UVVersion,
		r.SetupDuration.Microseconds(), r.PeakCPUPercent, r.PeakRAMBytes,
		r.SoftLimitExceeded, r.LogPath, r.MetricsPath, r.Admitted, s.d.timeArg(r.NotBefore),
		reqEnv, r.LogIncomplete, r.Replica,
	}, nil
}

// CreateRun implements status.RunStore.
func (s *Store) CreateRun(ctx context.Context, r status.Run) (status.Run, error) {
	r, err := s.newRun(r)
	if err != nil {
		return status.Run{}, fmt.Errorf("create run: %w", err)
	}
	if err := s.insertRun(ctx, s.w, r); err != nil {
		return status.Run{}, fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return r, nil
}

// newRun fills the fields CreateRun and AdmitRun default and checks the
// rest, returning the run as a read will.
func (s *Store) newRun(r status.Run) (status.Run, error) {
	if r.Pipeline == "" {
		return status.Run{}, fmt.Errorf("%w: empty pipeline", status.ErrInvalidArgument)
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
	r.LogRemovedAt, r.LogRemovedReason = time.Time{}, ""
	r = normRun(r)
	if err := checkRun(r); err != nil {
		return status.Run{}, err
	}
	return r, nil
}

// insertRun stores r, which newRun prepared, on c.
func (s *Store) insertRun(ctx context.Context, c conn, r status.Run) error {
	params, err := jsonObject(r.Parameters)
	if err != nil {
		return fmt.Errorf("encode parameters: %w", err)
	}
	mut, err := s.mutableArgs(r)
	if err != nil {
		return err
	}
	args := []any{r.ID, r.Pipeline, string(r.Trigger), r.TriggeredBy, int64(r.Attempt),
		nullString(r.RetryOf), params, s.d.timeArg(r.QueuedAt)}
	args = append(args, mut...)
	_, err = s.execOn(ctx, c, `INSERT INTO runs (id, pipeline, trigger_type, triggered_by, attempt,
		retry_of, parameters, queued_at,
		status, error_type, exit_code, message, revision, container_id, env_names,
		started_at, finished_at, uv_version, setup_duration_us, peak_cpu_percent,
		peak_ram_bytes, soft_limit_exceeded, log_path, metrics_path, admitted, not_before,
		request_env, log_incomplete, replica_id)
		VALUES (`+placeholders(len(args))+`)`, args...)
	return err
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
	_, changed, err := s.transitionRun(ctx, s.w, r, from)
	return changed, err
}

// transitionRun is TransitionRun on c. It also returns the run's pipeline
// when the transition happened, which FinishRun counts: r.Pipeline is not
// trusted, since an update never moves a run to another pipeline.
func (s *Store) transitionRun(ctx context.Context, c conn, r status.Run, from []status.RunStatus) (pipeline string, changed bool, err error) {
	r = normRun(r)
	if err := checkRun(r); err != nil {
		return "", false, fmt.Errorf("transition run: %w", err)
	}
	if len(from) == 0 {
		return "", false, fmt.Errorf("transition run %s: %w: no source status", r.ID, status.ErrInvalidArgument)
	}
	args, err := s.mutableArgs(r)
	if err != nil {
		return "", false, err
	}
	args = append(args, r.ID)
	for _, st := range from {
		args = append(args, string(st))
	}
	err = s.queryRowOn(ctx, c, `UPDATE runs SET `+runMutable+` WHERE id = ? AND status IN (`+
		placeholders(len(from))+`) RETURNING pipeline`, args...).Scan(&pipeline)
	if err == nil {
		return pipeline, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("transition run %s: %w", r.ID, classify(err))
	}
	// Nothing changed: either the run is elsewhere in its life or missing.
	if err := s.runExists(ctx, c, r.ID); err != nil {
		return "", false, fmt.Errorf("transition run %s: %w", r.ID, err)
	}
	return "", false, nil
}

// runExists is nil for a stored run and ErrNotFound for a missing one.
func (s *Store) runExists(ctx context.Context, c conn, id string) error {
	var one int
	return notFound(s.queryRowOn(ctx, c, `SELECT 1 FROM runs WHERE id = ?`, id).Scan(&one))
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
		reqEnv            string
	)
	err := row.Scan(&r.ID, &r.Pipeline, &st, &errType, &exit, &r.Message, &r.Revision,
		&trig, &r.TriggeredBy, &attempt, &retryOf, &r.ContainerID, &params, &env,
		scanTime(&r.QueuedAt), scanTime(&r.StartedAt), scanTime(&r.FinishedAt), &r.UVVersion,
		&setupUS, &r.PeakCPUPercent, &r.PeakRAMBytes, &r.SoftLimitExceeded, &r.LogPath, &r.MetricsPath,
		&r.Admitted, scanTime(&r.NotBefore), &reqEnv, &r.LogIncomplete,
		scanTime(&r.LogRemovedAt), &r.LogRemovedReason, &r.Replica)
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
	if err := json.Unmarshal([]byte(reqEnv), &r.RequestEnv); err != nil {
		return status.Run{}, fmt.Errorf("decode request env of run %s: %w", r.ID, err)
	}
	return normRun(r), nil
}
