package logs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Source reads the stored items of one run: the file a Hub's writer
// flushes every item to before the hub forgets it.
type Source[T Sequenced] interface {
	// Range returns the stored items with from <= Seq <= to, in order;
	// to < 0 means up to the last stored one.
	Range(from, to int64) ([]T, error)
	// Tail returns the last n stored items and the Seq of the last stored
	// one (0 when none is). A follower calls it only under a rate limit.
	Tail(n int) ([]T, int64, error)
}

// Sink is where a Follower delivers. Its methods are called from the
// Follow call's goroutine only; an error from any of them ends Follow with
// that error.
type Sink[T Sequenced] interface {
	// Item delivers one item, numbered above everything delivered or
	// skipped before.
	Item(v T) error
	// Skipped reports items not delivered (over the rate limit, or not
	// stored), before the next item and before Follow returns.
	Skipped(g Gap) error
	// Flush is called once a burst is written: after a catch-up from the
	// Source, when the live items drained, and before Follow returns, so a
	// sink can buffer writes until then.
	Flush() error
	// Heartbeat is called every FollowOptions.Heartbeat whatever else
	// happens, for sinks whose connection dies when quiet.
	Heartbeat() error
}

// Gap is a run of consecutive item numbers From..To that was not
// delivered; Skipped is their count.
type Gap struct {
	Skipped int64
	From    int64
	To      int64
}

// FollowOptions tune a Follower.
type FollowOptions struct {
	// After is the last number the reader has; Follow starts after it.
	After int64
	// Rate caps the items delivered per one-second window; 0 delivers
	// every item.
	Rate int
	// Heartbeat is how often Sink.Heartbeat is called; 0 never.
	Heartbeat time.Duration
	// NoticeEvery is how soon a pending Gap is reported when no delivered
	// item carries it out first. Default one second.
	NoticeEvery time.Duration
	// Poll is how often Follow looks for the hub of a run that has not
	// ended but has no live hub (queued, executed by another replica, or
	// left by a stopped operator and not re-attached yet), and reads the
	// Source for what was stored meanwhile. Default one second.
	Poll time.Duration
	// Now is the clock of the rate limit (time.Now when nil).
	Now func() time.Time
}

// Follower delivers the numbered items of one run (log lines, metrics
// points) from its stored Source and its live Hub, with no gap and no
// duplicate: every number after the starting point is either delivered once
// or reported once in a Gap, in order. It is the reader side of the Hub
// contract: what a hub no longer keeps is fetched from the Source, and a
// reader the hub cuts off for being slow subscribes again after the last
// number it has.
//
// A Follower is used by one goroutine, for one Follow call.
type Follower[T Sequenced] struct {
	hubs  *Hubs[T]
	runID string
	src   Source[T]
	ended func(context.Context) (bool, error)
	opts  FollowOptions

	sink  Sink[T]
	last  int64
	limit *windowLimiter

	pending           Gap
	heartbeat, notice *time.Ticker
}

// NewFollower returns a follower of runID's items in hubs and src. ended
// reports whether the run has ended; it is asked only while the run has no
// live hub, and its true must mean the Source is complete (the operator
// closes a run's writer, then its hub, before it records the final status).
func NewFollower[T Sequenced](hubs *Hubs[T], runID string, src Source[T], ended func(context.Context) (bool, error), opts FollowOptions) *Follower[T] {
	if opts.NoticeEvery <= 0 {
		opts.NoticeEvery = time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Follower[T]{hubs: hubs, runID: runID, src: src, ended: ended, opts: opts, last: opts.After}
	if opts.Rate > 0 {
		f.limit = &windowLimiter{rate: opts.Rate}
	}
	return f
}

// Last is the number of the last item delivered or reported skipped.
func (f *Follower[T]) Last() int64 { return f.last }

// Follow delivers to sink until the run has ended and everything was
// delivered or reported (nil), ctx ends (its error), or the sink or the
// Source fails.
func (f *Follower[T]) Follow(ctx context.Context, sink Sink[T]) error {
	f.sink = sink
	if f.opts.Heartbeat > 0 {
		f.heartbeat = time.NewTicker(f.opts.Heartbeat)
		defer f.heartbeat.Stop()
	}
	f.notice = time.NewTicker(f.opts.NoticeEvery)
	defer f.notice.Stop()
	for {
		if hub, ok := f.hubs.Get(f.runID); ok {
			dropped, err := f.follow(ctx, hub)
			if err != nil {
				return err
			}
			if dropped {
				continue // resume after f.last; follow fills any gap
			}
		}
		ended, err := f.ended(ctx)
		if err != nil {
			return err
		}
		if ended {
			if err := f.fill(f.last+1, -1); err != nil {
				return err
			}
			if err := f.flushSkipped(); err != nil {
				return err
			}
			return f.sink.Flush()
		}
		// No live hub here: the run is queued, or another replica
		// executes it and writes its file in the shared LOGS_DIR. What
		// the file holds so far goes out now, complete lines only; the
		// hub, if the run comes to this replica, resumes after it.
		before := f.last
		if err := f.fill(f.last+1, -1); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if f.last != before || f.pending.Skipped > 0 {
			if err := f.flushSkipped(); err != nil {
				return err
			}
			if err := f.sink.Flush(); err != nil {
				return err
			}
		}
		if err := f.wait(ctx, f.opts.Poll); err != nil {
			return err
		}
	}
}

// heartbeatC is the heartbeat ticker's channel, nil (never ready) without
// a heartbeat.
func (f *Follower[T]) heartbeatC() <-chan time.Time {
	if f.heartbeat == nil {
		return nil
	}
	return f.heartbeat.C
}

// follow delivers the hub's items after f.last until the hub closes
// (false) or cuts this reader off for being slow (true).
func (f *Follower[T]) follow(ctx context.Context, hub *Hub[T]) (dropped bool, err error) {
	sub := hub.Subscribe(f.last)
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-f.heartbeatC():
			if err := f.sink.Heartbeat(); err != nil {
				return false, err
			}
		case <-f.notice.C:
			if f.pending.Skipped > 0 {
				if err := f.flushSkipped(); err != nil {
					return false, err
				}
				if err := f.sink.Flush(); err != nil {
					return false, err
				}
			}
		case v, ok := <-sub.C():
			if !ok {
				return sub.Dropped(), f.sink.Flush()
			}
			seq := v.Seq()
			if seq <= f.last {
				continue
			}
			// The hub no longer keeps what came before its first item;
			// the writer flushed those to the file before they left it.
			if seq > f.last+1 {
				if err := f.fill(f.last+1, seq-1); err != nil {
					return false, err
				}
			}
			if err := f.offer(v); err != nil {
				return false, err
			}
			// Flush once the burst is drained, not per item.
			if len(sub.C()) == 0 {
				if err := f.sink.Flush(); err != nil {
					return false, err
				}
			}
		}
	}
}

// wait pauses for d, keeping the heartbeat going.
func (f *Follower[T]) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-f.heartbeatC():
			if err := f.sink.Heartbeat(); err != nil {
				return err
			}
		}
	}
}

// offer delivers v if the limit allows, else counts it skipped.
func (f *Follower[T]) offer(v T) error {
	if f.limit != nil && f.limit.take(f.opts.Now(), 1) == 0 {
		f.skipTo(v.Seq())
		return nil
	}
	return f.send(v)
}

// send delivers v, after the notice of anything skipped before it.
func (f *Follower[T]) send(v T) error {
	if err := f.flushSkipped(); err != nil {
		return err
	}
	if err := f.sink.Item(v); err != nil {
		return err
	}
	f.last = v.Seq()
	return nil
}

// skipTo counts everything after f.last up to n as skipped.
func (f *Follower[T]) skipTo(n int64) {
	if n <= f.last {
		return
	}
	if f.pending.Skipped == 0 {
		f.pending.From = f.last + 1
	}
	f.pending.Skipped += n - f.last
	f.pending.To = n
	f.last = n
}

// flushSkipped reports the pending gap.
func (f *Follower[T]) flushSkipped() error {
	if f.pending.Skipped == 0 {
		return nil
	}
	if err := f.sink.Skipped(f.pending); err != nil {
		return err
	}
	f.pending = Gap{}
	return nil
}

// fill delivers the stored items from..to (to < 0: to the last stored
// one). Under a limit it prefers the most recent ones and reports the older
// ones skipped: a reader catching up wants where the run is now. Numbers
// that are not stored (past LOG_MAX_SIZE_MB) are reported skipped too.
func (f *Follower[T]) fill(from, to int64) error {
	if to >= 0 && from > to {
		return nil
	}
	var items []T
	switch {
	case f.limit == nil:
		var err error
		if items, err = f.src.Range(from, to); err != nil {
			return err
		}
	case to >= 0:
		k := int64(f.limit.take(f.opts.Now(), int(min(to-from+1, int64(f.limit.rate)))))
		f.skipTo(to - k)
		if k > 0 {
			var err error
			if items, err = f.src.Range(to-k+1, to); err != nil {
				return err
			}
		}
	default:
		avail := f.limit.available(f.opts.Now())
		tail, lastStored, err := f.src.Tail(max(avail, 1))
		if err != nil {
			return err
		}
		for _, v := range tail {
			if v.Seq() >= from {
				items = append(items, v)
			}
		}
		if len(items) > avail {
			items = items[len(items)-avail:]
		}
		if len(items) > 0 {
			f.skipTo(items[0].Seq() - 1)
			f.limit.take(f.opts.Now(), len(items))
		}
		to = lastStored
	}
	for _, v := range items {
		if v.Seq() <= f.last {
			continue
		}
		if err := f.send(v); err != nil {
			return err
		}
	}
	f.skipTo(to)
	return nil
}

// windowLimiter lets rate items through per one-second window. A fixed
// window rather than a token bucket: under a flood the reader gets runs of
// consecutive items with one notice between them, which reads better than
// every hundredth line.
type windowLimiter struct {
	rate  int
	start time.Time
	used  int
}

func (l *windowLimiter) roll(now time.Time) {
	if now.Sub(l.start) >= time.Second {
		l.start, l.used = now, 0
	}
}

// available is how many items may still go in the current window.
func (l *windowLimiter) available(now time.Time) int {
	l.roll(now)
	return l.rate - l.used
}

// take reserves up to n items in the current window and returns how many.
func (l *windowLimiter) take(now time.Time, n int) int {
	l.roll(now)
	k := min(n, l.rate-l.used)
	l.used += k
	return k
}

// FileSource is the Source of a run's log file. It reads forward with a
// Cursor: a follower asks for ever later lines, and rescanning from line 1
// for each catch-up made 100 readers of a busy run quadratic in its log
// size. A file that does not exist yet has no lines. Close releases it.
type FileSource struct {
	path string
	cur  *Cursor
}

// NewFileSource returns the Source of the log at path.
func NewFileSource(path string) *FileSource {
	return &FileSource{path: path, cur: NewCursor(path)}
}

// Range implements Source.
func (s *FileSource) Range(from, to int64) ([]Line, error) {
	limit := 0
	if to >= 0 {
		limit = int(to - from + 1)
	}
	lines, err := s.cur.Read(from, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return lines, nil
}

// Tail implements Source.
func (s *FileSource) Tail(n int) ([]Line, int64, error) {
	lines, err := Tail(s.path, n)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("tail log: %w", err)
	}
	if len(lines) == 0 {
		return nil, 0, nil
	}
	return lines, lines[len(lines)-1].N, nil
}

// Close releases the file.
func (s *FileSource) Close() error { return s.cur.Close() }
