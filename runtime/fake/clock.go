package fake

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Timer is a timer or ticker of a Clock: the part of *time.Timer and
// *time.Ticker that code on an injected clock uses. Reset and Stop follow
// the Go 1.23 semantics: no stale value is received from C after either
// returns. C is nil for a timer made by AfterFunc.
//
// Timer is an alias of an unnamed interface type, not a named type, so that
// a package which declares its own clock interface with an identical alias
// (the operator's Timer, say) is satisfied by *Clock without importing this
// package: two identical unnamed interface types are one type, two named
// ones never are. Its method set is the operator's.
type Timer = interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// TimeSource is the time the fake runtime runs its containers' programs on:
// Now stamps their output and exits, AfterFunc schedules their next steps.
// *Clock is one; a nil Config.Clock is the real time.
type TimeSource interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Clock is a manual clock for tests: its time moves only when Advance is
// called, and Advance fires the timers, tickers and AfterFunc callbacks that
// fall due, one by one in the order of their deadlines (deadlines that are
// equal in the order the timers were set), each with Now reading its
// deadline. AfterFunc callbacks run synchronously inside Advance, so when
// Advance returns every program step of a fake runtime on this clock that was
// due has run; timers and tickers receive on their channel (buffered, one
// value, dropped when full like time.Ticker's).
//
// BlockUntil lets a test wait until the code under test has parked the
// expected number of timers and tickers before it advances the clock.
//
// The zero Clock reads the zero time; use NewClock. A Clock is safe for
// concurrent use; Advance calls are serialized, and an AfterFunc callback
// must not call Advance.
type Clock struct {
	// advancing serializes Advance, so timers fire in one order.
	advancing sync.Mutex

	mu      sync.Mutex
	now     time.Time
	seq     uint64
	pending []*event
	// waiters counts the pending events with a channel, the ones a
	// goroutine can be blocked on.
	waiters int
	// changed is closed and replaced whenever waiters changes.
	changed chan struct{}
}

// event is one pending timer, ticker or AfterFunc callback.
type event struct {
	when   time.Time
	seq    uint64
	period time.Duration  // tickers
	ch     chan time.Time // nil for AfterFunc
	f      func()
	active bool
}

var _ TimeSource = (*Clock)(nil)

// NewClock returns a Clock reading start, or 2025-01-01T00:00:00Z when start
// is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		// A fixed instant, so a test's times are the same on every run.
		start = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Clock{now: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since is c.Now().Sub(t).
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until is t.Sub(c.Now()).
func (c *Clock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// NewTimer returns a timer that sends the time on its channel once the clock
// has advanced by d; d <= 0 sends at once.
func (c *Clock) NewTimer(d time.Duration) Timer {
	t := &clockTimer{c: c, e: &event{ch: make(chan time.Time, 1)}}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(t.e, d)
	return t
}

// After is NewTimer(d).C().
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// NewTicker returns a ticker that sends the time every d of the clock's
// time. It panics if d <= 0, as time.NewTicker does.
func (c *Clock) NewTicker(d time.Duration) Timer {
	if d <= 0 {
		panic("fake: non-positive interval for NewTicker")
	}
	t := &clockTimer{c: c, e: &event{ch: make(chan time.Time, 1), period: d}}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(t.e, d)
	return t
}

// AfterFunc calls f in the goroutine that advances the clock past d from
// now. With d <= 0, f runs on the next Advance (Advance(0) will do), never
// inside AfterFunc itself: a caller holding a lock f takes would deadlock.
func (c *Clock) AfterFunc(d time.Duration, f func()) Timer {
	t := &clockTimer{c: c, e: &event{f: f}}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(t.e, d)
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due on
// the way, including those that callbacks set within the window. It panics
// if d is negative: time does not go back.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic("fake: Advance by a negative duration")
	}
	c.advancing.Lock()
	defer c.advancing.Unlock()
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		e := c.nextDue(target)
		if e == nil {
			break
		}
		if e.when.After(c.now) {
			c.now = e.when
		}
		if e.period > 0 {
			c.seq++
			e.when, e.seq = e.when.Add(e.period), c.seq
		} else {
			c.drop(e)
		}
		if e.ch != nil {
			select {
			case e.ch <- c.now:
			default: // the receiver has not taken the last one: dropped
			}
			continue
		}
		// Unlocked: f may set timers or read the clock.
		c.mu.Unlock()
		e.f()
		c.mu.Lock()
	}
	c.now = target
	c.mu.Unlock()
}

// BlockUntil waits until at least n timers and tickers made by NewTimer,
// NewTicker or After are pending (set, not fired, not stopped), which is how
// a test knows the goroutines it drives are parked on the clock before it
// advances it. AfterFunc callbacks do not count: no goroutine waits for
// them, and the fake runtime schedules its programs' steps with them, so
// running containers never disturb the count. A ticker counts until it is
// stopped, also while its goroutine is busy with a tick. It returns ctx's
// error, wrapped, if ctx ends first.
func (c *Clock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		have, changed := c.waiters, c.changedLocked()
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("fake clock: %d of %d timers pending: %w", have, n, ctx.Err())
		}
	}
}

// Waiters returns the number of pending timers and tickers BlockUntil counts.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiters
}

// arm schedules e to fire after d, replacing its previous deadline, and
// drops a value left in its channel. Called with c.mu held.
func (c *Clock) arm(e *event, d time.Duration) {
	c.disarm(e)
	if e.ch != nil && d <= 0 && e.period == 0 {
		e.ch <- c.now // just drained: there is room
		return
	}
	c.seq++
	e.when, e.seq, e.active = c.now.Add(d), c.seq, true
	c.pending = append(c.pending, e)
	if e.ch != nil {
		c.waiters++
		c.notify()
	}
}

// disarm stops e and drops a value left in its channel. Called with c.mu
// held.
func (c *Clock) disarm(e *event) {
	if e.active {
		c.drop(e)
	}
	if e.ch != nil {
		select {
		case <-e.ch:
		default:
		}
	}
}

// drop removes the active event e from the pending ones.
func (c *Clock) drop(e *event) {
	e.active = false
	for i, p := range c.pending {
		if p == e {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	if e.ch != nil {
		c.waiters--
		c.notify()
	}
}

// nextDue returns the earliest pending event due at or before target.
func (c *Clock) nextDue(target time.Time) *event {
	var next *event
	for _, e := range c.pending {
		if e.when.After(target) {
			continue
		}
		if next == nil || e.when.Before(next.when) || (e.when.Equal(next.when) && e.seq < next.seq) {
			next = e
		}
	}
	return next
}

func (c *Clock) changedLocked() chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *Clock) notify() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// clockTimer is a Timer of a Clock.
type clockTimer struct {
	c *Clock
	e *event
}

func (t *clockTimer) C() <-chan time.Time { return t.e.ch }

// Reset sets the timer to fire after d from now (a ticker: every d from
// now), whether or not it was pending.
func (t *clockTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.e.period > 0 {
		if d <= 0 {
			panic("fake: non-positive interval for Ticker.Reset")
		}
		t.e.period = d
	}
	t.c.arm(t.e, d)
}

// Stop keeps the timer from firing; it is safe to call more than once.
func (t *clockTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.disarm(t.e)
}

// realTime is the wall clock, used when Config.Clock is nil.
type realTime struct{}

func (realTime) Now() time.Time { return time.Now() }

func (realTime) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }
