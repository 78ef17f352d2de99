package sqlstore

import (
	"context"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

// PutScheduleState implements status.ScheduleStore.
func (s *Store) PutScheduleState(ctx context.Context, st status.ScheduleState) error {
	if st.Pipeline == "" || st.Key == "" {
		return fmt.Errorf("put schedule state: %w: empty pipeline or key", status.ErrInvalidArgument)
	}
	_, err := s.exec(ctx, `INSERT INTO schedule_states (pipeline, schedule_key, last_fire, next_fire)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (pipeline, schedule_key) DO UPDATE SET last_fire = excluded.last_fire,
		next_fire = excluded.next_fire`,
		st.Pipeline, st.Key, s.d.timeArg(st.LastFire), s.d.timeArg(st.NextFire))
	if err != nil {
		return fmt.Errorf("put schedule state %s/%s: %w", st.Pipeline, st.Key, err)
	}
	return nil
}

// ListScheduleStates implements status.ScheduleStore.
func (s *Store) ListScheduleStates(ctx context.Context, pipeline string) ([]status.ScheduleState, error) {
	q := `SELECT pipeline, schedule_key, last_fire, next_fire FROM schedule_states`
	var args []any
	if pipeline != "" {
		q += ` WHERE pipeline = ?`
		args = append(args, pipeline)
	}
	rows, err := s.query(ctx, q+` ORDER BY pipeline, schedule_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("list schedule states: %w", err)
	}
	defer rows.Close()
	var out []status.ScheduleState
	for rows.Next() {
		var st status.ScheduleState
		if err := rows.Scan(&st.Pipeline, &st.Key, scanTime(&st.LastFire), scanTime(&st.NextFire)); err != nil {
			return nil, fmt.Errorf("list schedule states: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schedule states: %w", err)
	}
	return out, nil
}

// DeleteScheduleStates implements status.ScheduleStore.
func (s *Store) DeleteScheduleStates(ctx context.Context, pipeline string) error {
	if _, err := s.exec(ctx, `DELETE FROM schedule_states WHERE pipeline = ?`, pipeline); err != nil {
		return fmt.Errorf("delete schedule states of %s: %w", pipeline, err)
	}
	return nil
}

// RecordFire implements status.ScheduleStore.
func (s *Store) RecordFire(ctx context.Context, f status.Fire) error {
	return s.recordFire(ctx, s.w, f)
}

// recordFire is RecordFire on c.
func (s *Store) recordFire(ctx context.Context, c conn, f status.Fire) error {
	if err := checkFire(f); err != nil {
		return fmt.Errorf("record fire: %w", err)
	}
	_, err := s.execOn(ctx, c, `INSERT INTO schedule_fires (fire_key, pipeline, fire_at, run_id, created_at)
		VALUES (?, ?, ?, ?, ?)`,
		f.Key, f.Pipeline, s.d.timeArg(f.FireAt), f.RunID, s.d.timeArg(s.now()))
	if err != nil {
		return fmt.Errorf("record fire %s: %w", f.Key, err)
	}
	return nil
}

func checkFire(f status.Fire) error {
	if f.Key == "" || f.Pipeline == "" || f.FireAt.IsZero() {
		return fmt.Errorf("%w: empty key, pipeline or fire time", status.ErrInvalidArgument)
	}
	return nil
}
