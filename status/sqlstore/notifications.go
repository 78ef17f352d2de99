package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

const notificationColumns = `id, run_id, target, format, signing_secret, event, state, attempts,
	next_attempt_at, last_error, created_at, delivered_at`

// EnqueueNotifications implements status.NotificationStore.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []status.Notification) error {
	for _, n := range ns {
		if n.RunID == "" || n.Target == "" || n.Event == "" || n.Format == "" {
			return fmt.Errorf("enqueue notification: %w: run, target, event and format are required", status.ErrInvalidArgument)
		}
	}
	if len(ns) == 0 {
		return nil
	}
	now := s.now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, n := range ns {
			next := n.NextAttemptAt
			if next.IsZero() {
				next = now
			}
			_, err := s.execOn(ctx, tx, `INSERT INTO notifications (run_id, target, format, signing_secret, event, state,
				attempts, next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, '', ?)
				ON CONFLICT (run_id, target) DO NOTHING`,
				n.RunID, n.Target, n.Format, n.SigningSecret, n.Event, string(status.NotificationPending),
				s.d.timeArg(next), s.d.timeArg(now))
			if err != nil {
				return fmt.Errorf("run %s, target %s: %w", n.RunID, n.Target, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("enqueue notifications: %w", err)
	}
	return nil
}

// ClaimNotifications implements status.NotificationStore.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]status.Notification, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim notifications: %w: limit and lease must be positive", status.ErrInvalidArgument)
	}
	var out []status.Notification
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := s.queryOn(ctx, tx, `SELECT `+notificationColumns+` FROM notifications
			WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`+s.d.skipLocked(),
			s.d.timeArg(now), limit)
		if err != nil {
			return err
		}
		out, err = scanNotifications(rows)
		if err != nil || len(out) == 0 {
			return err
		}
		until := normTime(now.Add(lease))
		ids := make([]any, 0, len(out)+1)
		ids = append(ids, s.d.timeArg(until))
		for i := range out {
			ids = append(ids, out[i].ID)
			out[i].NextAttemptAt = until
		}
		_, err = s.execOn(ctx, tx, `UPDATE notifications SET next_attempt_at = ? WHERE id IN (`+placeholders(len(out))+`)`, ids...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return out, nil
}

// RecordNotificationAttempt implements status.NotificationStore.
func (s *Store) RecordNotificationAttempt(ctx context.Context, n status.Notification) error {
	switch n.State {
	case status.NotificationPending, status.NotificationDelivered, status.NotificationFailed:
	default:
		return fmt.Errorf("record notification attempt: %w: state %q", status.ErrInvalidArgument, n.State)
	}
	next := n.NextAttemptAt
	if next.IsZero() {
		next = s.now()
	}
	res, err := s.exec(ctx, `UPDATE notifications SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
		delivered_at = ? WHERE id = ?`,
		string(n.State), n.Attempts, s.d.timeArg(next), n.LastError, s.d.timeArg(n.DeliveredAt), n.ID)
	if err != nil {
		return fmt.Errorf("record notification attempt %d: %w", n.ID, err)
	}
	if err := mustAffect(res); err != nil {
		return fmt.Errorf("record notification attempt %d: %w", n.ID, err)
	}
	return nil
}

// ListNotifications implements status.NotificationStore.
func (s *Store) ListNotifications(ctx context.Context, runID string) ([]status.Notification, error) {
	rows, err := s.query(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE run_id = ? ORDER BY target`, runID)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %s: %w", runID, err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %s: %w", runID, err)
	}
	return out, nil
}

// NextNotificationAt implements status.NotificationStore.
func (s *Store) NextNotificationAt(ctx context.Context) (time.Time, error) {
	var next time.Time
	err := s.queryRow(ctx, `SELECT next_attempt_at FROM notifications WHERE state = 'pending'
		ORDER BY next_attempt_at, id LIMIT 1`).Scan(scanTime(&next))
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("next notification: %w", err)
	}
	return next, nil
}

func scanNotifications(rows *sql.Rows) ([]status.Notification, error) {
	defer rows.Close()
	var out []status.Notification
	for rows.Next() {
		var n status.Notification
		var state string
		if err := rows.Scan(&n.ID, &n.RunID, &n.Target, &n.Format, &n.SigningSecret, &n.Event, &state, &n.Attempts,
			scanTime(&n.NextAttemptAt), &n.LastError, scanTime(&n.CreatedAt), scanTime(&n.DeliveredAt)); err != nil {
			return nil, err
		}
		n.State = status.NotificationState(state)
		out = append(out, n)
	}
	return out, rows.Err()
}
