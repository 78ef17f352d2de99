package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/fastflow-dev/fastflow/runtime"
)

// backoff is the retry policy for transient daemon errors: attempts calls in
// all, the first wait initial, each later one doubled.
type backoff struct {
	attempts int
	initial  time.Duration
}

// defaultBackoff waits 100, 200 and 400 ms: long enough to ride out a daemon
// that is restarting its API socket or shedding load, short enough that a
// daemon that is really down is reported in under a second, so a new run is
// refused quickly with ErrUnavailable rather than hanging.
var defaultBackoff = backoff{attempts: 4, initial: 100 * time.Millisecond}

// do calls f until it succeeds, fails with an error that retrying cannot
// fix, runs out of attempts, or ctx ends, and returns f's last error
// classified by classify. Only idempotent calls go through do: inspect, list,
// logs, stats, wait setup, start, stop and remove, where a second request
// after a lost answer does no harm. Create is not one of them; see create.
func (c *Client) do(ctx context.Context, op, target string, f func(context.Context) error) error {
	var timer *time.Timer
	delay := c.retry.initial
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if !isTransient(err) || attempt >= c.retry.attempts || ctx.Err() != nil {
			return c.classify(op, target, err)
		}
		c.log.Debug("docker call failed, retrying", "op", op, "target", target, "attempt", attempt, "delay", delay, "err", err)
		if !c.sleep(ctx, &timer, delay) {
			return c.classify(op, target, err)
		}
		delay *= 2
	}
}

// sleep waits d on the reusable timer, or until ctx ends (false).
func (c *Client) sleep(ctx context.Context, timer **time.Timer, d time.Duration) bool {
	if *timer == nil {
		*timer = time.NewTimer(d)
	} else {
		(*timer).Reset(d)
	}
	select {
	case <-ctx.Done():
		(*timer).Stop()
		return false
	case <-(*timer).C:
		return true
	}
}

// isTransient reports whether err may go away by itself: the daemon could not
// be reached or dropped the connection, or it answered with a server error
// (5xx), which dockerd uses for its own passing trouble (containerd
// restarting, a busy storage driver). Client errors (4xx) never are.
func isTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return isConnectionError(err) || cerrdefs.IsInternal(err) || cerrdefs.IsUnavailable(err)
}

// isConnectionError reports whether err means the daemon did not answer:
// nothing listens, or the connection broke before the answer was complete.
func isConnectionError(err error) bool {
	return client.IsErrConnectionFailed(err) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// classify wraps err for the caller: a missing container becomes
// runtime.ErrNotFound, a daemon that does not answer ErrDaemonUnreachable
// (and so runtime.ErrUnavailable); the daemon's own text stays in the chain.
// A cancelled or expired context is the caller giving up and stays as is.
func (c *Client) classify(op, target string, err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("docker %s %s: %w", op, target, err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("docker %s %s: %w: %w", op, target, runtime.ErrNotFound, err)
	case isConnectionError(err):
		return fmt.Errorf("%w: %s %s at %s: %w", ErrDaemonUnreachable, op, target, c.Host(), err)
	default:
		return fmt.Errorf("docker %s %s: %w", op, target, err)
	}
}
