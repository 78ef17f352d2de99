package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// syncChannel is the PostgreSQL NOTIFY channel of sync signals.
const syncChannel = "fastflow_sync"

// SignalSync implements status.SyncSignaler with PostgreSQL's NOTIFY; on
// SQLite there is no other host to tell.
func (s *Store) SignalSync(ctx context.Context, revision string) error {
	if s.pg == nil {
		return nil
	}
	if _, err := s.exec(ctx, `SELECT pg_notify('`+syncChannel+`', ?)`, revision); err != nil {
		return fmt.Errorf("signal sync: %w", err)
	}
	return nil
}

// ListenSync implements status.SyncSignaler on a connection of its own
// (LISTEN holds a session), opened again with backoff when it breaks.
func (s *Store) ListenSync(ctx context.Context, fn func(revision string)) error {
	if s.pg == nil {
		<-ctx.Done()
		return nil
	}
	for attempt := 0; ; attempt++ {
		began := time.Now()
		err := s.listenOnce(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > time.Minute {
			attempt = 0 // it held a while: start the backoff over
		}
		wait := min(time.Second<<min(attempt, 5), 30*time.Second)
		s.log.Warn("sync signals: the listening connection broke; listening again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, fn func(string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pg.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+syncChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		fn(n.Payload)
	}
}
