package fake

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// maxQueuedSamples bounds the samples a Stats stream holds for a reader
// that falls behind; older ones are dropped, as a daemon's would be.
const maxQueuedSamples = 64

// cpuPeriod is the CFS period throttling is counted in.
const cpuPeriod = 100 * time.Millisecond

// lookup returns the container id names, nil if there is none or it was
// removed. Called with d.mu held.
func (d *daemon) lookup(id string) *container {
	if c := d.containers[id]; c != nil && !c.removed {
		return c
	}
	return nil
}

// block waits for the next change of the daemon's state, for ctx to end,
// for done (a stream's Close) or for this client's Close, and returns why
// it stopped waiting when that is not a change.
func (r *Runtime) block(ctx context.Context, changed, done <-chan struct{}) error {
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrStreamClosed
	case <-r.closed:
		return ErrClosed
	}
}

// stream is what Logs and Stats streams share: the call that opened them
// and how they end. Its fields other than done are guarded by daemon.mu.
type stream struct {
	r      *Runtime
	m      Method
	c      *container
	ctx    context.Context
	outage int
	// done is closed by Close.
	done      chan struct{}
	closeOnce sync.Once
}

func (r *Runtime) newStream(ctx context.Context, m Method, c *container) stream {
	return stream{r: r, m: m, c: c, ctx: ctx, outage: r.d.outages, done: make(chan struct{})}
}

// broken returns why the stream has ended other than at the end of its
// data, or nil. Called with d.mu held.
func (s *stream) broken() error {
	select {
	case <-s.done:
		return ErrStreamClosed
	default:
	}
	var err error
	switch {
	case s.r.isClosed():
		err = ErrClosed
	case s.ctx.Err() != nil:
		err = s.ctx.Err()
	case s.r.d.outages != s.outage:
		err = ErrDown
	default:
		return nil
	}
	return callError(s.m, s.c.id, err)
}

// wait unlocks d.mu, waits for a change and locks it again; it returns the
// reason when it stopped for something else.
func (s *stream) wait() error {
	changed := s.r.d.changed
	s.r.d.mu.Unlock()
	err := s.r.block(s.ctx, changed, s.done)
	s.r.d.mu.Lock()
	if err != nil {
		return s.broken()
	}
	return nil
}

// Logs streams c's lines. Without Follow the stream holds the lines printed
// until the call; with Follow it goes on until the container has exited and
// every line is read. Since drops the lines stamped before it. The lines of
// a fake are stored as they are printed, so a followed stream's times are
// the stored ones too.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions) (runtime.LogStream, error) {
	if err := r.begin(ctx, MethodLogs, id); err != nil {
		return nil, err
	}
	d := r.d
	defer d.mu.Unlock()
	c := d.lookup(id)
	if c == nil {
		return nil, callError(MethodLogs, id, runtime.ErrNotFound)
	}
	return &logStream{stream: r.newStream(ctx, MethodLogs, c), since: opts.Since, follow: opts.Follow, end: len(c.lines)}, nil
}

type logStream struct {
	stream
	since  time.Time
	follow bool
	next   int // index into c.lines
	end    int // without follow: the lines there were at the call
}

// Next returns the next line, io.EOF at the end of the output, ErrDown
// (wrapped) once the daemon went down after the call, ErrStreamClosed after
// Close, the context's error once it ended.
func (s *logStream) Next() (runtime.LogLine, error) {
	d := s.r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if err := s.broken(); err != nil {
			return runtime.LogLine{}, err
		}
		end := s.end
		if s.follow {
			end = len(s.c.lines)
		}
		for s.next < end {
			l := s.c.lines[s.next]
			s.next++
			if !l.Time.Before(s.since) {
				return l, nil
			}
		}
		if !s.follow || s.c.state != runtime.StateRunning {
			return runtime.LogLine{}, io.EOF
		}
		if err := s.wait(); err != nil {
			return runtime.LogLine{}, err
		}
	}
}

// Close ends the stream; it is idempotent and safe alongside Next.
func (s *logStream) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	return nil
}

// Stats streams samples of c: one at once, then one every StatsInterval
// while it runs, and io.EOF once it has exited.
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.StatsStream, error) {
	if err := r.begin(ctx, MethodStats, id); err != nil {
		return nil, err
	}
	d := r.d
	defer d.mu.Unlock()
	c := d.lookup(id)
	if c == nil {
		return nil, callError(MethodStats, id, runtime.ErrNotFound)
	}
	s := &statsStream{stream: r.newStream(ctx, MethodStats, c)}
	if c.state == runtime.StateRunning {
		s.queue = append(s.queue, d.sample(c))
		c.stats[s] = struct{}{}
		d.sampleLater(c)
	}
	return s, nil
}

type statsStream struct {
	stream
	queue []runtime.Sample
}

// Next returns the next sample, io.EOF once the container has exited and
// the samples taken before are read, and otherwise the errors Logs' Next
// returns.
func (s *statsStream) Next() (runtime.Sample, error) {
	d := s.r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if err := s.broken(); err != nil {
			return runtime.Sample{}, err
		}
		if len(s.queue) > 0 {
			smp := s.queue[0]
			s.queue = s.queue[1:]
			return smp, nil
		}
		if s.c.state != runtime.StateRunning {
			return runtime.Sample{}, io.EOF
		}
		if err := s.wait(); err != nil {
			return runtime.Sample{}, err
		}
	}
}

// Close ends the stream, and the sampling when it was the container's last
// one; it is idempotent and safe alongside Next.
func (s *statsStream) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		d := s.r.d
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(s.c.stats, s)
		if len(s.c.stats) == 0 && s.c.cancelStats != nil {
			s.c.cancelStats()
			s.c.cancelStats = nil
		}
	})
	return nil
}

// sampleLater schedules c's next sample, if it runs and a stream wants it.
// Called with d.mu held.
func (d *daemon) sampleLater(c *container) {
	if c.cancelStats != nil || c.state != runtime.StateRunning || len(c.stats) == 0 {
		return
	}
	c.cancelStats = d.after(d.interval, func() {
		c.cancelStats = nil
		if c.state != runtime.StateRunning {
			return
		}
		smp := d.sample(c)
		for s := range c.stats {
			if len(s.queue) == maxQueuedSamples {
				s.queue = s.queue[1:]
			}
			s.queue = append(s.queue, smp)
		}
		d.notify()
		d.sampleLater(c)
	})
}

// account adds c's CPU use since it was last accounted. Called with d.mu
// held.
func (d *daemon) account(c *container) {
	now := d.now()
	dt := now.Sub(c.accounted)
	if dt <= 0 || c.state != runtime.StateRunning {
		return
	}
	c.accounted = now
	use := c.millicores
	if lim := c.spec.Limits.NanoCPUs / 1_000_000; lim > 0 && use > lim {
		use = lim
		c.throttledNs += int64(dt)
	}
	c.cpuNs += int64(dt) * use / 1000
	c.runNs += int64(dt)
}

// sample is c's reading now. Called with d.mu held.
func (d *daemon) sample(c *container) runtime.Sample {
	d.account(c)
	memLimit := c.spec.Limits.MemoryBytes
	if memLimit <= 0 {
		memLimit = d.hostMemory
	}
	smp := runtime.Sample{
		Time:             d.now(),
		CPUTotalNs:       uint64(c.cpuNs),
		SystemCPUNs:      uint64(c.runNs) * uint64(d.cpus),
		OnlineCPUs:       d.cpus,
		MemoryBytes:      uint64(c.memory),
		MemoryLimitBytes: uint64(memLimit),
	}
	if c.spec.Limits.NanoCPUs > 0 {
		smp.TotalPeriods = uint64(c.runNs / int64(cpuPeriod))
		smp.ThrottledPeriods = uint64(c.throttledNs / int64(cpuPeriod))
	}
	return smp
}
