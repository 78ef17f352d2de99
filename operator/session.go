package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Bounds of the calls a session makes after its owner decided to end it.
const (
	// cleanupTimeout bounds the work done after a run ends (stop, remove,
	// record), which runs on a context that survives the run's own.
	cleanupTimeout = 30 * time.Second
	// stopAttempts is how often a Stop that fails or times out is tried
	// before the container is left to Remove (which kills) and to the
	// next start's reconciliation.
	stopAttempts = 3
	// logDrainIdle is how long the log stream may stay silent after the
	// container exited before it is taken as hung.
	logDrainIdle = 10 * time.Second
)

// waited is what Wait said about a container.
type waited struct {
	exit runtime.ExitStatus
	err  error
}

// sessionSinks receive what a container produces. Line is called from one
// goroutine, in order; a false return ends the log pump (the sink cannot
// store more). Sample may be nil (no stats wanted).
type sessionSinks struct {
	line func(runtime.LogLine) bool
	// eof is called when the output ended (not when the stream broke).
	eof    func()
	sample func(runtime.Sample)
	// since re-reads the log from this time, for a re-attach (zero: all).
	since time.Time
}

// session is one attachment to one container: its log and stats pumps and
// its Wait, each a goroutine the session owns. Runs and warm-ups both use
// it; a run that re-attaches after the runtime came back opens a new
// session on the same container. close stops every goroutine and waits.
type session struct {
	rt  runtime.Runtime
	id  string
	clk Clock
	log *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// exited yields Wait's answer once.
	exited chan waited
	// logsDone is closed when the log pump returned; logErr says why it
	// did if not at the end of the output.
	logsDone chan struct{}
	logErr   error
	// lines counts the lines the sink took, for stall and drain checks.
	lines atomic.Int64
}

// attach starts following container id. ctx bounds the session: when it
// ends, every pump returns.
func attach(ctx context.Context, rt runtime.Runtime, clk Clock, log *slog.Logger, id string, sinks sessionSinks) *session {
	ctx, cancel := context.WithCancel(ctx)
	s := &session{rt: rt, id: id, clk: clk, log: log, cancel: cancel, exited: make(chan waited, 1), logsDone: make(chan struct{})}
	s.wg.Go(func() {
		defer close(s.logsDone)
		s.logErr = s.pumpLogs(ctx, sinks)
	})
	if sinks.sample != nil {
		s.wg.Go(func() { s.pumpStats(ctx, sinks.sample) })
	}
	s.wg.Go(func() {
		exit, err := rt.Wait(ctx, id)
		s.exited <- waited{exit, err}
	})
	return s
}

// close stops the pumps and the Wait and waits for them.
func (s *session) close() {
	s.cancel()
	s.wg.Wait()
}

func (s *session) pumpLogs(ctx context.Context, sinks sessionSinks) error {
	stream, err := s.rt.Logs(ctx, s.id, runtime.LogOptions{Since: sinks.since, Follow: true})
	if err != nil {
		return fmt.Errorf("follow logs: %w", err)
	}
	defer stream.Close()
	for {
		line, err := stream.Next()
		if errors.Is(err, io.EOF) {
			if sinks.eof != nil {
				sinks.eof()
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
		if !sinks.line(line) {
			return errSinkFull
		}
		s.lines.Add(1)
	}
}

// errSinkFull: the line sink refused a line (the log could not be written).
var errSinkFull = errors.New("operator: log sink refused a line")

func (s *session) pumpStats(ctx context.Context, sample func(runtime.Sample)) {
	stream, err := s.rt.Stats(ctx, s.id)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, runtime.ErrNotFound) {
			s.log.Warn("follow stats", "err", err)
		}
		return
	}
	defer stream.Close()
	for {
		smp, err := stream.Next()
		if err != nil {
			return
		}
		sample(smp)
	}
}

// drain waits, after the container exited, until its output has ended: as
// long as lines keep coming, but no longer than logDrainIdle of silence. It
// reports whether the stream ended by itself.
func (s *session) drain(ctx context.Context) bool {
	t := s.clk.NewTimer(logDrainIdle)
	defer t.Stop()
	seen := s.lines.Load()
	for {
		select {
		case <-s.logsDone:
			return true
		case <-ctx.Done():
			return false
		case <-t.C():
			if now := s.lines.Load(); now != seen {
				seen = now
				t.Reset(logDrainIdle)
				continue
			}
			s.log.Warn("log stream went quiet without ending after the container exited; closing it")
			return false
		}
	}
}

// stop asks the container to stop with grace and waits for its exit. A Stop
// that fails or does not return in time is tried again (stopAttempts); an
// error means the container could not be seen to stop, and the caller
// decides the run's outcome without it.
func (s *session) stop(ctx context.Context, grace time.Duration) waited {
	var errs []error
	for attempt := range stopAttempts {
		if attempt > 0 && !sleep(ctx, s.clk, backoff(attempt, 5*time.Second)) {
			break
		}
		sctx, cancel := withTimeout(ctx, s.clk, grace+cleanupTimeout)
		err := s.rt.Stop(sctx, s.id, grace)
		cancel()
		if err == nil {
			break
		}
		errs = append(errs, err)
		s.log.Warn("stop container", "attempt", attempt+1, "err", err)
	}
	// Stop returned (or gave up): Wait says how it ended, bounded by the
	// grace period and the time to tear the container down.
	t := s.clk.NewTimer(grace + cleanupTimeout)
	defer t.Stop()
	select {
	case res := <-s.exited:
		if res.err != nil {
			res.err = errors.Join(append(errs, res.err)...)
		}
		return res
	case <-t.C():
		return waited{err: errors.Join(append(errs, errors.New("the container did not stop in time"))...)}
	case <-ctx.Done():
		return waited{err: errors.Join(append(errs, ctx.Err())...)}
	}
}

// stopWithoutSession stops a container no session follows (the runtime was
// away): Stop is tried stopAttempts times and its last error returned.
func stopWithoutSession(ctx context.Context, rt runtime.Runtime, clk Clock, id string, grace time.Duration) waited {
	var errs []error
	for attempt := range stopAttempts {
		if attempt > 0 && !sleep(ctx, clk, backoff(attempt, 5*time.Second)) {
			break
		}
		sctx, cancel := withTimeout(ctx, clk, grace+cleanupTimeout)
		err := rt.Stop(sctx, id, grace)
		cancel()
		if err == nil {
			wctx, cancel := withTimeout(ctx, clk, cleanupTimeout)
			exit, err := rt.Wait(wctx, id)
			cancel()
			return waited{exit: exit, err: err}
		}
		errs = append(errs, err)
	}
	return waited{err: errors.Join(errs...)}
}

// remove deletes a container on a context that survives the caller's, with
// a few retries: a container left behind costs disk until the next start.
func remove(ctx context.Context, rt runtime.Runtime, clk Clock, id string) error {
	ctx, cancel := withTimeout(context.WithoutCancel(ctx), clk, cleanupTimeout)
	defer cancel()
	var err error
	for attempt := range 3 {
		if attempt > 0 && !sleep(ctx, clk, backoff(attempt, 2*time.Second)) {
			break
		}
		if err = rt.Remove(ctx, id); err == nil {
			return nil
		}
	}
	return fmt.Errorf("remove container %s: %w", id, err)
}

// removeLaterFor bounds how long a container whose removal failed is
// retried; reconciliation at the next start removes it in any case.
const removeLaterFor = time.Hour

// removeLater retries removing container id every few seconds until it
// succeeds, removeLaterFor has passed, or the operator stops. The
// goroutine is owned by runWG.
func (o *Operator) removeLater(log *slog.Logger, id string) {
	o.runWG.Go(func() {
		ctx := o.runCtx
		deadline := o.clk.Now().Add(removeLaterFor)
		for attempt := 0; o.clk.Now().Before(deadline); attempt++ {
			if !sleep(ctx, o.clk, backoff(attempt+3, 30*time.Second)) {
				return
			}
			if err := remove(ctx, o.rt, o.clk, id); err == nil {
				log.Info("removed the container once the engine answered again")
				return
			}
		}
	})
}
