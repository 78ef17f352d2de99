package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
// than split into two pipes, which would lose that order. A line written in
// fragments (Docker splits lines over 16 KiB) is joined again and carries the
// time of its first fragment, so resuming with Since set to a stored line's
// time never starts inside it.
func (c *Client) Logs(ctx context.Context, id string, opts runtime.LogOptions) (runtime.LogStream, error) {
	req := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: opts.Follow}
	if !opts.Since.IsZero() {
		// The API's own Unix form keeps the nanoseconds; the daemon keeps
		// lines at exactly Since.
		req.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	sctx, cancel := context.WithCancel(ctx)
	var body io.ReadCloser
	err := c.do(sctx, "logs", id, func(ctx context.Context) error {
		var err error
		body, err = c.api.ContainerLogs(ctx, id, req)
		return err
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return newLogStream(ctx, body, cancel, func(err error) error { return c.classify("logs", id, err) }), nil
}

// logStream demultiplexes Docker's log framing into lines. Next is called by
// one goroutine; Close may be called from any.
type logStream struct {
	ctx      context.Context // the caller's, to report why a read failed
	body     io.ReadCloser
	r        *bufio.Reader
	cancel   context.CancelFunc
	classify func(error) error

	hdr     [8]byte
	frame   []byte
	pending [3]fragment // by frame stream number: stdout, stderr
	ready   []runtime.LogLine
	next    int
	err     error

	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
}

// fragment is the unfinished line of one stream.
type fragment struct {
	open bool
	time time.Time
	buf  []byte
}

func newLogStream(ctx context.Context, body io.ReadCloser, cancel context.CancelFunc, classify func(error) error) *logStream {
	return &logStream{ctx: ctx, body: body, r: bufio.NewReaderSize(body, 32<<10), cancel: cancel, classify: classify}
}

// Next returns the next line, io.EOF once the output has ended, the
// context's error once it is done, or ErrStreamClosed after Close.
func (s *logStream) Next() (runtime.LogLine, error) {
	for s.next == len(s.ready) {
		if s.err != nil {
			return runtime.LogLine{}, s.err
		}
		s.ready, s.next = s.ready[:0], 0
		if err := s.readFrame(); err != nil {
			s.err = s.failure(err)
		}
	}
	line := s.ready[s.next]
	s.next++
	return line, nil
}

// failure turns a read error into what Next reports. A clean end of the
// stream first releases the lines still unfinished.
func (s *logStream) failure(err error) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
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
	ts, text := splitTimestamp(s.frame)
	if ts.IsZero() {
		// Every entry has a timestamp when asked for; without one, keep
		// the text and the stream's last known time rather than fail.
		ts = s.pending[stream].time
	}
	s.add(stream, ts, text)
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
	s.ready = append(s.ready, runtime.LogLine{Time: f.time, Stream: name, Text: string(f.buf)})
	f.open, f.buf = false, f.buf[:0]
}

// flush emits the unfinished lines at the end of the output (a last line
// without a newline), the older first.
func (s *logStream) flush() {
	out, errf := &s.pending[frameStdout], &s.pending[frameStderr]
	first, second := byte(frameStdout), byte(frameStderr)
	if errf.open && (!out.open || errf.time.Before(out.time)) {
		first, second = second, first
	}
	for _, st := range []byte{first, second} {
		if f := &s.pending[st]; f.open {
			s.emit(st, f)
		}
	}
}

// Close ends the stream and releases its connection. It is safe to call
// more than once and concurrently with Next, which then returns
// ErrStreamClosed.
func (s *logStream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		err = s.body.Close()
	})
	if err != nil {
		return fmt.Errorf("close docker logs: %w", err)
	}
	return nil
}
