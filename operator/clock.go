package operator

import (
	"context"
	"time"
)

// Clock is the operator's source of time: the scheduler's fires, run
// timeouts, stall checks, retry delays, the queue's not-before times and the
// backoff of store and runtime retries all read it, so tests drive every one
// of them without sleeping. Config.Clock defaults to the real clock.
type Clock interface {
	Now() time.Time
	// NewTimer fires once after d, like time.NewTimer.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the operator uses. Reset and Stop follow
// the Go 1.23 semantics: no stale value is received after either returns.
type Timer = interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }

// sleep waits d on clk and reports false if ctx ended first.
func sleep(ctx context.Context, clk Clock, d time.Duration) bool {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// backoff is the wait before attempt n (from 0) of a retried call: 100 ms
// doubling to at most max.
func backoff(n int, max time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// withTimeout is context.WithTimeout on clk, so a test's clock decides
// when a hanging call is given up. The returned cancel also waits for the
// timer's goroutine.
func withTimeout(ctx context.Context, clk Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if _, real := clk.(realClock); real {
		return context.WithTimeout(ctx, d)
	}
	ctx, cancel := context.WithCancel(ctx)
	t := clk.NewTimer(d)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.Stop()
		select {
		case <-t.C():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(); <-done }
}
