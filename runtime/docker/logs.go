package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/fastflow-dev/fastflow/runtime"
)

// ErrStreamClosed is returned by Next after Close.
var ErrStreamClosed = errors.New("docker: stream closed")

const (
	// MaxLineBytes caps one log line. Longer output without a newline is
	// split into lines of this size, each with the timestamp of its first
	// fragment, so one runaway line cannot hold unbounded memory.
	MaxLineBytes = 64 << 10
	// maxFrameBytes bounds one frame of the multiplexed stream. The
	// json-file driver stores at most 16 KiB per entry, so a bigger frame
	// means the stream is corrupt.
	maxFrameBytes = 1 << 20
	// maxHeldBytes bounds the lines held back behind an unfinished line of
	// the other stream; past it they are released out of time order
	// rather than buffered without limit.
	maxHeldBytes = 4 << 20
)

// The stream numbers of Docker's multiplexed framing.
const (
	frameStdout = 1
	frameStderr = 2
	frameSystem = 3
)

// Logs streams the container's output with Docker's timestamps.
//
// The lines come out in the order the daemon delivers its single multiplexed
// stream, stdout and stderr interleaved, which for the json-file driver is
// the order it stored them in: the stream is demultiplexed in place rather
// than split into two pipes, which would lose that order.
//
// A line Docker stored in fragments (it splits lines over 16 KiB) is joined
// again; every fragment carries the time of the line's first, and the other
// stream's lines may be stored between them. Lines of the other stream are
// therefore held back while a line is unfinished, until they are no older
// than it, so times never go backwards and resuming with Since set to the
// last stored line's time loses nothing. A line longer than MaxLineBytes is
// split, each piece with the line's time.
func (c *Client) Logs(ctx context.Context, id string, opts runtime.LogOptions) (runtime.LogStream, error) {
	if opts.Follow && opts.Since.IsZero() {
		// The stream Start attached has every line; see attach.go.
		if out, ok := c.attached.take(id); ok {
			return c.attachedLogs(ctx, id, out), nil
		}
	}
	req := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: opts.Follow}
	if !opts.Since.IsZero() {
		// The API's own Unix form keeps the nanoseconds; the daemon keeps
		// lines at exactly Since.
		req.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	sctx, cancel := context.WithCancel(ctx)
	open := func(req container.LogsOptions) (io.ReadCloser, error) {
		var body io.ReadCloser
		err := c.do(sctx, "logs", id, func(ctx context.Context) error {
			var err error
			body, err = c.api.ContainerLogs(ctx, id, req)
			return err
		})
		return body, err
	}
	body, err := open(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := newLogStream(ctx, body, cancel, func(err error) error { return c.classify("logs", id, err) })
	s.since = opts.Since
	if opts.Follow {
		// dockerd 20.10 ends a followed stream without the last line
		// when that line has no newline; the unfollowed read has it.
		s.reopen = func(since time.Time) (io.ReadCloser, error) {
			tail := req
			tail.Follow = false
			if !since.IsZero() {
				tail.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
			}
			return open(tail)
		}
	}
	return s, nil
}

// logStream demultiplexes Docker's log framing into lines. Next is called by
// one goroutine; Close may be called from any.
type logStream struct {
	ctx      context.Context // the caller's, to report why a read failed
	body     io.ReadCloser
	r        *bufio.Reader
	cancel   context.CancelFunc
	classify func(error) error

	// stampOnArrival marks an attached stream, whose frames carry no
	// timestamps: each is stamped when it is read.
	stampOnArrival bool
	// reopen, while following, reads the stored log from a time on without
	// following, to pick up what the followed stream missed at its end.
	reopen func(since time.Time) (io.ReadCloser, error)
	since  time.Time // the caller's Since
	// last is the time of the newest line handed out, lastSeen those
	// handed out at that time; skip and skipTime drop them again when the
	// re-read repeats them.
	last     time.Time
	lastSeen map[lineKey]int
	skip     map[lineKey]int
	skipTime time.Time

	hdr     [8]byte
	frame   []byte
	pending [3]fragment       // by frame stream number: stdout, stderr
	held    []runtime.LogLine // complete, waiting for an older unfinished line
	heldLen int
	ready   []runtime.LogLine
	next    int
	err     error

	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
}

type lineKey struct{ stream, text string }

// fragment is the unfinished line of one stream.
type fragment struct {
	open bool
	time time.Time
	buf  []byte
}

func newLogStream(ctx context.Context, body io.ReadCloser, cancel context.CancelFunc, classify func(error) error) *logStream {
	return &logStream{
		ctx: ctx, body: body, r: bufio.NewReaderSize(body, 32<<10), cancel: cancel, classify: classify,
		lastSeen: make(map[lineKey]int),
	}
}

// Next returns the next line, io.EOF once the output has ended, the
// context's error once it is done, or ErrStreamClosed after Close.
func (s *logStream) Next() (runtime.LogLine, error) {
	for s.next == len(s.ready) {
		if s.err != nil {
			return runtime.LogLine{}, s.err
		}
		s.ready, s.next = s.ready[:0], 0
		err := s.readFrame()
		if errors.Is(err, io.EOF) && s.reopen != nil && !s.isClosed() && s.ctx.Err() == nil {
			err = s.tail()
		}
		if err != nil {
			s.err = s.failure(err)
		}
	}
	line := s.ready[s.next]
	s.next++
	return line, nil
}

// tail switches, at the end of a followed stream, to an unfollowed read of
// the stored log from the newest line handed out, dropping what was already
// handed out at that time.
func (s *logStream) tail() error {
	reopen := s.reopen
	s.reopen = nil
	s.release(true)
	since := s.last
	if since.IsZero() {
		since = s.since
	}
	// An unfinished line from since on comes again, whole, in the re-read;
	// an older one would not, so it is handed out as it is.
	for _, st := range []byte{frameStdout, frameStderr} {
		if f := &s.pending[st]; f.open {
			if f.time.Before(since) {
				s.emit(st, f)
			} else {
				f.open, f.buf = false, f.buf[:0]
			}
		}
	}
	s.release(true)
	body, err := reopen(since)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = body.Close()
		return ErrStreamClosed
	}
	old := s.body
	s.body = body
	s.mu.Unlock()
	_ = old.Close()
	s.r.Reset(body)
	if len(s.lastSeen) > 0 {
		s.skip, s.skipTime = maps.Clone(s.lastSeen), s.last
	}
	return nil
}

func (s *logStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// failure turns a read error into what Next reports. A clean end of the
// stream first releases the lines still unfinished.
func (s *logStream) failure(err error) error {
	switch {
	case s.isClosed() || errors.Is(err, ErrStreamClosed):
		return ErrStreamClosed
	case s.ctx.Err() != nil:
		return fmt.Errorf("docker logs: %w", s.ctx.Err())
	case errors.Is(err, io.EOF):
		s.flush()
		return io.EOF
	default:
		return s.classify(err)
	}
}

// readFrame reads one frame and turns it into zero or more ready lines.
func (s *logStream) readFrame() error {
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		return err // io.EOF only between frames: a clean end
	}
	size := binary.BigEndian.Uint32(s.hdr[4:])
	if size > maxFrameBytes {
		return fmt.Errorf("docker logs: frame of %d bytes: stream corrupt", size)
	}
	if cap(s.frame) < int(size) {
		s.frame = make([]byte, size)
	}
	s.frame = s.frame[:size]
	if _, err := io.ReadFull(s.r, s.frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	stream := s.hdr[0]
	switch stream {
	case frameStdout, frameStderr:
	case frameSystem:
		return fmt.Errorf("docker logs: daemon error: %s", bytes.TrimSpace(s.frame))
	default:
		return nil // stdin is never multiplexed into logs; skip what we do not know
	}
	var ts time.Time
	text := s.frame
	if s.stampOnArrival {
		ts = time.Now().UTC()
	} else {
		ts, text = splitTimestamp(s.frame)
	}
	if ts.IsZero() {
		// Every entry has a timestamp when asked for; without one, keep
		// the text and the stream's last known time rather than fail.
		ts = s.pending[stream].time
	}
	s.add(stream, ts, text)
	s.release(false)
	return nil
}

// splitTimestamp splits "<RFC3339Nano> <text>" into its parts.
func splitTimestamp(p []byte) (time.Time, []byte) {
	sp := bytes.IndexByte(p, ' ')
	if sp < 0 {
		return time.Time{}, p
	}
	t, err := time.Parse(time.RFC3339Nano, string(p[:sp]))
	if err != nil {
		return time.Time{}, p
	}
	return t, p[sp+1:]
}

// add appends text, stamped ts, to stream's unfinished line and emits every
// line it completes.
func (s *logStream) add(stream byte, ts time.Time, text []byte) {
	f := &s.pending[stream]
	for len(text) > 0 {
		chunk, rest, complete := bytes.Cut(text, []byte{'\n'})
		text = rest
		if !f.open {
			f.open, f.time = true, ts
		}
		for len(f.buf)+len(chunk) > MaxLineBytes {
			n := MaxLineBytes - len(f.buf)
			f.buf = append(f.buf, chunk[:n]...)
			chunk = chunk[n:]
			s.emit(stream, f)
			f.open, f.time = true, ts
		}
		f.buf = append(f.buf, chunk...)
		if complete {
			s.emit(stream, f)
		}
	}
}

func (s *logStream) emit(stream byte, f *fragment) {
	name := "stdout"
	if stream == frameStderr {
		name = "stderr"
	}
	l := runtime.LogLine{Time: f.time, Stream: name, Text: string(f.buf)}
	f.open, f.buf = false, f.buf[:0]
	// Insert in time order; equal times keep their arrival order.
	i := len(s.held)
	for i > 0 && l.Time.Before(s.held[i-1].Time) {
		i--
	}
	s.held = slices.Insert(s.held, i, l)
	s.heldLen += len(l.Text)
}

// release moves the held lines that no unfinished line precedes to ready:
// all of them when all is set, nothing is unfinished, or too much is held.
func (s *logStream) release(all bool) {
	n := len(s.held)
	if !all && s.heldLen <= maxHeldBytes {
		for _, f := range s.pending[frameStdout:] {
			if !f.open {
				continue
			}
			i := 0
			for i < n && !f.time.Before(s.held[i].Time) {
				i++
			}
			n = min(n, i)
		}
	}
	for _, l := range s.held[:n] {
		s.heldLen -= len(l.Text)
		s.handOut(l)
	}
	s.held = slices.Delete(s.held, 0, n)
}

// handOut makes l ready unless the tail re-read repeats it.
func (s *logStream) handOut(l runtime.LogLine) {
	k := lineKey{l.Stream, l.Text}
	if s.skip[k] > 0 && l.Time.Equal(s.skipTime) {
		s.skip[k]--
		return
	}
	s.ready = append(s.ready, l)
	switch {
	case l.Time.After(s.last):
		s.last = l.Time
		clear(s.lastSeen)
		s.lastSeen[k] = 1
	case l.Time.Equal(s.last):
		s.lastSeen[k]++
	}
}

// flush emits the unfinished lines at the end of the output (a last line
// without a newline) and everything held.
func (s *logStream) flush() {
	for _, st := range []byte{frameStdout, frameStderr} {
		if f := &s.pending[st]; f.open {
			s.emit(st, f)
		}
	}
	s.release(true)
}

// Close ends the stream and releases its connection. It is safe to call
// more than once and concurrently with Next, which then returns
// ErrStreamClosed.
func (s *logStream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		body := s.body
		s.mu.Unlock()
		s.cancel()
		err = body.Close()
	})
	if err != nil {
		return fmt.Errorf("close docker logs: %w", err)
	}
	return nil
}
