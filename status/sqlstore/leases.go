package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// dbNow is the database's clock: PostgreSQL's clock_timestamp(), shared by
// every replica, or this process's clock for SQLite, whose replicas share
// a host.
func (s *Store) dbNow(ctx context.Context, c conn) (time.Time, error) {
	if !s.d.postgres {
		return normTime(s.now()), nil
	}
	var now time.Time
	if err := c.QueryRowContext(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("read the database clock: %w", err)
	}
	return normTime(now), nil
}

// TryLease implements status.LeaseStore.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (status.Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return status.Lease{}, fmt.Errorf("try lease: %w: name, holder and a positive ttl are required", status.ErrInvalidArgument)
	}
	var out status.Lease
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now, err := s.dbNow(ctx, tx)
		if err != nil {
			return err
		}
		cur, err := s.scanLease(s.queryRowOn(ctx, tx, `SELECT `+leaseColumns+` FROM leases WHERE name = ?`+s.d.forUpdate(), name))
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		expires := normTime(now.Add(ttl))
		switch {
		case !found:
			out = status.Lease{Name: name, Holder: holder, Term: 1, AcquiredAt: now, RenewedAt: now, ExpiresAt: expires}
			_, err = s.execOn(ctx, tx, `INSERT INTO leases (name, holder, term, acquired_at, renewed_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?)`, name, holder, out.Term, s.d.timeArg(now), s.d.timeArg(now), s.d.timeArg(expires))
		case cur.Holder == holder && cur.ExpiresAt.After(now):
			out = cur
			out.RenewedAt, out.ExpiresAt = now, expires
			_, err = s.execOn(ctx, tx, `UPDATE leases SET renewed_at = ?, expires_at = ? WHERE name = ?`,
				s.d.timeArg(now), s.d.timeArg(expires), name)
		case !cur.ExpiresAt.After(now):
			out = status.Lease{Name: name, Holder: holder, Term: cur.Term + 1, AcquiredAt: now, RenewedAt: now, ExpiresAt: expires}
			_, err = s.execOn(ctx, tx, `UPDATE leases SET holder = ?, term = ?, acquired_at = ?, renewed_at = ?, expires_at = ?
				WHERE name = ?`, holder, out.Term, s.d.timeArg(now), s.d.timeArg(now), s.d.timeArg(expires), name)
		default:
			out = cur
		}
		out.Now = now
		return err
	})
	if errors.Is(err, status.ErrConflict) {
		// Another replica inserted the first lease at the same moment.
		return s.GetLease(ctx, name)
	}
	if err != nil {
		return status.Lease{}, fmt.Errorf("try lease %s: %w", name, err)
	}
	return out, nil
}

// ReleaseLease implements status.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now, err := s.dbNow(ctx, tx)
		if err != nil {
			return err
		}
		_, err = s.execOn(ctx, tx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND expires_at > ?`,
			s.d.timeArg(now), name, holder, s.d.timeArg(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// GetLease implements status.LeaseStore.
func (s *Store) GetLease(ctx context.Context, name string) (status.Lease, error) {
	l, err := s.scanLease(s.queryRow(ctx, `SELECT `+leaseColumns+` FROM leases WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return status.Lease{}, fmt.Errorf("lease %s: %w", name, status.ErrNotFound)
	}
	if err != nil {
		return status.Lease{}, fmt.Errorf("lease %s: %w", name, err)
	}
	if l.Now, err = s.dbNow(ctx, s.r); err != nil {
		return status.Lease{}, fmt.Errorf("lease %s: %w", name, err)
	}
	return l, nil
}

const leaseColumns = `name, holder, term, acquired_at, renewed_at, expires_at`

func (s *Store) scanLease(row *sql.Row) (status.Lease, error) {
	var l status.Lease
	err := row.Scan(&l.Name, &l.Holder, &l.Term, scanTime(&l.AcquiredAt), scanTime(&l.RenewedAt), scanTime(&l.ExpiresAt))
	return l, err
}

// Heartbeat implements status.LeaseStore.
func (s *Store) Heartbeat(ctx context.Context, r status.Replica) error {
	if r.ID == "" {
		return fmt.Errorf("heartbeat: %w: empty replica id", status.ErrInvalidArgument)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now, err := s.dbNow(ctx, tx)
		if err != nil {
			return err
		}
		started := r.StartedAt
		if started.IsZero() {
			started = now
		}
		_, err = s.execOn(ctx, tx, `INSERT INTO replicas (id, host, version, started_at, last_seen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version,
			started_at = excluded.started_at, last_seen = excluded.last_seen`,
			r.ID, r.Host, r.Version, s.d.timeArg(started), s.d.timeArg(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat of %s: %w", r.ID, err)
	}
	return nil
}

// ListReplicas implements status.LeaseStore.
func (s *Store) ListReplicas(ctx context.Context, since time.Time) ([]status.Replica, error) {
	q, args := `SELECT id, host, version, started_at, last_seen FROM replicas`, []any(nil)
	if !since.IsZero() {
		q, args = q+` WHERE last_seen >= ?`, append(args, s.d.timeArg(normTime(since)))
	}
	rows, err := s.query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []status.Replica
	for rows.Next() {
		var r status.Replica
		if err := rows.Scan(&r.ID, &r.Host, &r.Version, scanTime(&r.StartedAt), scanTime(&r.LastSeen)); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// RemoveReplica implements status.LeaseStore.
func (s *Store) RemoveReplica(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM replicas WHERE id = ?`, id); err != nil {
		return fmt.Errorf("remove replica %s: %w", id, err)
	}
	return nil
}
