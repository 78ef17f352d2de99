package sqlstore

import (
	"context"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

const syncColumns = `id, trigger_type, started_at, finished_at, revision, branch,
	commit_message, outcome, pipelines, problems, error`

// RecordSync implements status.SyncStore.
func (s *Store) RecordSync(ctx context.Context, ev status.SyncEvent) (int64, error) {
	if ev.StartedAt.IsZero() {
		return 0, fmt.Errorf("record sync: %w: zero StartedAt", status.ErrInvalidArgument)
	}
	if ev.Outcome == "" {
		return 0, fmt.Errorf("record sync: %w: empty Outcome", status.ErrInvalidArgument)
	}
	var id int64
	err := s.writeRow(ctx, `INSERT INTO sync_events (trigger_type, started_at, finished_at, revision,
		branch, commit_message, outcome, pipelines, problems, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		ev.Trigger, s.d.timeArg(ev.StartedAt), s.d.timeArg(ev.FinishedAt), ev.Revision,
		ev.Branch, ev.CommitMessage, ev.Outcome, int64(ev.Pipelines), int64(ev.Problems), ev.Error,
	).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record sync: %w", classify(err))
	}
	return id, nil
}

// LastSync implements status.SyncStore.
func (s *Store) LastSync(ctx context.Context) (status.SyncEvent, error) {
	ev, err := scanSync(s.queryRow(ctx, `SELECT `+syncColumns+` FROM sync_events
		ORDER BY started_at DESC, id DESC LIMIT 1`))
	if err != nil {
		return status.SyncEvent{}, fmt.Errorf("last sync: %w", notFound(err))
	}
	return ev, nil
}

// ListSyncs implements status.SyncStore.
func (s *Store) ListSyncs(ctx context.Context, limit int) ([]status.SyncEvent, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.query(ctx, `SELECT `+syncColumns+` FROM sync_events
		ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list syncs: %w", err)
	}
	defer rows.Close()
	var evs []status.SyncEvent
	for rows.Next() {
		ev, err := scanSync(rows)
		if err != nil {
			return nil, fmt.Errorf("list syncs: %w", err)
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list syncs: %w", err)
	}
	return evs, nil
}

func scanSync(row rowScanner) (status.SyncEvent, error) {
	var ev status.SyncEvent
	var pipelines, problems int64
	err := row.Scan(&ev.ID, &ev.Trigger, scanTime(&ev.StartedAt), scanTime(&ev.FinishedAt),
		&ev.Revision, &ev.Branch, &ev.CommitMessage, &ev.Outcome, &pipelines, &problems, &ev.Error)
	ev.Pipelines, ev.Problems = int(pipelines), int(problems)
	return ev, err
}
