package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

const (
	// sseHeartbeat keeps proxies from closing a quiet stream.
	sseHeartbeat = 15 * time.Second
	// sseNoticeEvery is how soon a skipped-lines notice goes out when no
	// sent line carries it out first.
	sseNoticeEvery = time.Second
	// ssePoll is how often a stream looks for the hub of a run that is
	// active but not followed live (queued, or left by a stopped operator
	// and not re-attached yet).
	ssePoll = time.Second
	// sseRetryMillis tells EventSource how soon to reconnect.
	sseRetryMillis = 2000
)

// sseWriter frames server-sent events onto a response.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	b  []byte
}

// startSSE sends the headers of an event stream (STYLE 28) and lifts the
// server's write deadline, which would otherwise cut every long stream.
func startSSE(w http.ResponseWriter) (*sseWriter, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // not every writer supports it; then there is none to lift
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: rc}
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", sseRetryMillis); err != nil {
		return nil, fmt.Errorf("start event stream: %w", err)
	}
	return s, s.flush()
}

// event writes one event. id 0 writes no id line (the client's
// Last-Event-ID stays what it was); every line of data gets its own
// "data:" field, so a value with newlines arrives whole.
func (s *sseWriter) event(id int64, name string, data []byte) error {
	b := s.b[:0]
	if id > 0 {
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '\n')
	}
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	for {
		line, rest, more := strings.Cut(string(data), "\n")
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
		if !more {
			break
		}
		data = []byte(rest)
	}
	b = append(b, '\n')
	s.b = b
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return nil
}

func (s *sseWriter) ping() error {
	if _, err := s.w.Write([]byte(": ping\n\n")); err != nil {
		return fmt.Errorf("write ping: %w", err)
	}
	return s.flush()
}

func (s *sseWriter) flush() error {
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush event stream: %w", err)
	}
	return nil
}

// windowLimiter lets rate items through per one-second window. A fixed
// window rather than a token bucket: under a flood the reader gets runs of
// consecutive lines with one notice between them, which reads better than
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

// skipped is a run of consecutive item numbers not sent.
type skipped struct {
	Skipped int64 `json:"skipped"`
	From    int64 `json:"from"`
	To      int64 `json:"to"`
}

// seqStream streams the numbered items of one run (log lines, metrics
// points) from the stored file and the run's live hub, with no gap and no
// duplicate: every number after the starting point is either sent once or
// reported once in a skipped notice, in order.
type seqStream[T logs.Sequenced] struct {
	sse    *sseWriter
	hubs   *logs.Hubs[T]
	run    status.Run
	getRun func(ctx context.Context) (status.Run, error)
	// last is the number of the last item sent or reported skipped.
	last int64
	// limit is nil when every item is sent.
	limit  *windowLimiter
	encode func(T) any
	// readRange returns stored items with from <= Seq <= to; to < 0 means
	// up to the last stored one.
	readRange func(from, to int64) ([]T, error)
	// readTail returns the last n stored items and the number of the last
	// stored one; used with a limit only.
	readTail func(n int) ([]T, int64, error)
	now      func() time.Time

	pending      skipped
	ping, notice *time.Ticker
}

// run streams until the run has ended and everything was sent (then an
// "end" event), the client leaves, or writing fails.
func (st *seqStream[T]) serve(ctx context.Context) error {
	st.ping = time.NewTicker(sseHeartbeat)
	defer st.ping.Stop()
	st.notice = time.NewTicker(sseNoticeEvery)
	defer st.notice.Stop()
	for {
		if hub, ok := st.hubs.Get(st.run.ID); ok {
			dropped, err := st.follow(ctx, hub)
			if err != nil {
				return err
			}
			if dropped {
				continue // resume after st.last; follow fills any gap
			}
		}
		run, err := st.getRun(ctx)
		if err != nil {
			return err
		}
		if run.Status.Final() {
			// The supervisor closes the log before it records the final
			// status, so the file is complete now.
			if err := st.fill(st.last+1, -1); err != nil {
				return err
			}
			if err := st.flushSkipped(); err != nil {
				return err
			}
			end, _ := json.Marshal(struct {
				Status   status.RunStatus `json:"status"`
				ExitCode *int             `json:"exit_code"`
				Last     int64            `json:"last"`
			}{run.Status, run.ExitCode, st.last})
			if err := st.sse.event(0, "end", end); err != nil {
				return err
			}
			return st.sse.flush()
		}
		if err := st.wait(ctx, ssePoll); err != nil {
			return err
		}
	}
}

// follow sends the hub's items after st.last until the hub closes (false)
// or cuts this reader off for being slow (true).
func (st *seqStream[T]) follow(ctx context.Context, hub *logs.Hub[T]) (dropped bool, err error) {
	sub := hub.Subscribe(st.last)
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-st.ping.C:
			if err := st.sse.ping(); err != nil {
				return false, err
			}
		case <-st.notice.C:
			if st.pending.Skipped > 0 {
				if err := st.flushSkipped(); err != nil {
					return false, err
				}
				if err := st.sse.flush(); err != nil {
					return false, err
				}
			}
		case v, ok := <-sub.C():
			if !ok {
				return sub.Dropped(), st.sse.flush()
			}
			seq := v.Seq()
			if seq <= st.last {
				continue
			}
			// The hub no longer keeps what came before its first item;
			// the writer flushed those to the file before they left it.
			if seq > st.last+1 {
				if err := st.fill(st.last+1, seq-1); err != nil {
					return false, err
				}
			}
			if err := st.offer(v); err != nil {
				return false, err
			}
			// Flush once the burst is drained, not per item.
			if len(sub.C()) == 0 {
				if err := st.sse.flush(); err != nil {
					return false, err
				}
			}
		}
	}
}

// wait pauses for d, keeping the stream alive.
func (st *seqStream[T]) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-st.ping.C:
			if err := st.sse.ping(); err != nil {
				return err
			}
		}
	}
}

// offer sends v if the limit allows, else counts it skipped.
func (st *seqStream[T]) offer(v T) error {
	if st.limit != nil && st.limit.take(st.now(), 1) == 0 {
		st.skipTo(v.Seq())
		return nil
	}
	return st.send(v)
}

// send writes v, after the notice of anything skipped before it.
func (st *seqStream[T]) send(v T) error {
	if err := st.flushSkipped(); err != nil {
		return err
	}
	data, err := json.Marshal(st.encode(v))
	if err != nil {
		return fmt.Errorf("encode item %d: %w", v.Seq(), err)
	}
	if err := st.sse.event(v.Seq(), "", data); err != nil {
		return err
	}
	st.last = v.Seq()
	return nil
}

// skipTo counts everything after st.last up to n as skipped.
func (st *seqStream[T]) skipTo(n int64) {
	if n <= st.last {
		return
	}
	if st.pending.Skipped == 0 {
		st.pending.From = st.last + 1
	}
	st.pending.Skipped += n - st.last
	st.pending.To = n
	st.last = n
}

// flushSkipped sends the pending notice. Its id is the last number it
// covers, so a client that reconnects resumes after the skipped items
// rather than being sent them now.
func (st *seqStream[T]) flushSkipped() error {
	if st.pending.Skipped == 0 {
		return nil
	}
	data, _ := json.Marshal(st.pending) // three integers cannot fail
	if err := st.sse.event(st.pending.To, "skipped", data); err != nil {
		return err
	}
	st.pending = skipped{}
	return nil
}

// fill sends the stored items from..to (to < 0: to the last stored one).
// Under a limit it prefers the most recent ones and reports the older ones
// skipped: a reader catching up wants where the run is now. Numbers that
// are not stored (past LOG_MAX_SIZE_MB) are reported skipped too.
func (st *seqStream[T]) fill(from, to int64) error {
	if to >= 0 && from > to {
		return nil
	}
	var items []T
	switch {
	case st.limit == nil:
		var err error
		if items, err = st.readRange(from, to); err != nil {
			return err
		}
	case to >= 0:
		k := int64(st.limit.take(st.now(), int(min(to-from+1, int64(st.limit.rate)))))
		st.skipTo(to - k)
		if k > 0 {
			var err error
			if items, err = st.readRange(to-k+1, to); err != nil {
				return err
			}
		}
	default:
		avail := st.limit.available(st.now())
		tail, lastStored, err := st.readTail(max(avail, 1))
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
			st.skipTo(items[0].Seq() - 1)
			st.limit.take(st.now(), len(items))
		}
		to = lastStored
	}
	for _, v := range items {
		if v.Seq() <= st.last {
			continue
		}
		if err := st.send(v); err != nil {
			return err
		}
	}
	st.skipTo(to)
	return nil
}

// streamStart reads where a stream resumes: the Last-Event-ID header (an
// EventSource reconnecting) wins over ?after= (the first connection).
func streamStart(r *http.Request) (int64, error) {
	v, key := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, key = r.URL.Query().Get("after"), "after"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a line number (0 or more)", key, v)
	}
	return n, nil
}

// streamSetup validates a stream request and loads its run; false when it
// already answered.
func (s *Server) streamSetup(w http.ResponseWriter, r *http.Request) (status.Run, int64, bool) {
	run, ok := s.runFromPath(w, r)
	if !ok {
		return status.Run{}, 0, false
	}
	after, err := streamStart(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid resume point", err.Error())
		return status.Run{}, 0, false
	}
	return run, after, true
}

func (s *Server) getRunFunc(id string) func(context.Context) (status.Run, error) {
	return func(ctx context.Context) (status.Run, error) {
		run, err := s.cfg.Store.GetRun(ctx, id)
		if err != nil {
			return status.Run{}, fmt.Errorf("get run %s: %w", id, err)
		}
		return run, nil
	}
}

// endStream logs why a stream ended, unless the client simply left.
func (s *Server) endStream(r *http.Request, run status.Run, err error) {
	if err == nil || r.Context().Err() != nil {
		return
	}
	s.log.Warn("event stream ended", "run", run.ID, "path", r.URL.Path, "err", err)
}

// apiStreamLogs streams a run's log as server-sent events: one event per
// line, id = line number, data = the line as JSON.
func (s *Server) apiStreamLogs(w http.ResponseWriter, r *http.Request) {
	run, after, ok := s.streamSetup(w, r)
	if !ok {
		return
	}
	rate := s.logStreamRateLimit()
	if rate <= 0 {
		rate = defaultLogStreamRateLimit
	}
	cur := logs.NewCursor(run.LogPath)
	defer cur.Close()
	st := newLogStream(s.cfg.Operator.LogHubs(), run, s.getRunFunc(run.ID), after, rate, cur)
	sse, err := startSSE(w)
	if err != nil {
		s.endStream(r, run, err)
		return
	}
	st.sse = sse
	s.endStream(r, run, st.serve(r.Context()))
}

// newLogStream streams the log of run after line after, at most rate lines
// a second.
//
// cur reads the file forward: a stream asks for ever later lines, and
// rescanning from line 1 for each catch-up made 100 readers of a busy run
// quadratic in its log size.
func newLogStream(hubs *logs.Hubs[logs.Line], run status.Run, getRun func(context.Context) (status.Run, error), after int64, rate int, cur *logs.Cursor) *seqStream[logs.Line] {
	path := run.LogPath
	return &seqStream[logs.Line]{
		hubs: hubs, run: run, getRun: getRun, last: after,
		limit:  &windowLimiter{rate: rate},
		encode: func(l logs.Line) any { return l },
		readRange: func(from, to int64) ([]logs.Line, error) {
			limit := 0
			if to >= 0 {
				limit = int(to - from + 1)
			}
			lines, err := cur.Read(from, limit)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read log: %w", err)
			}
			return lines, nil
		},
		readTail: func(n int) ([]logs.Line, int64, error) {
			lines, err := logs.Tail(path, n)
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
		},
		now: time.Now,
	}
}

// apiStreamMetrics streams a run's metrics points like apiStreamLogs; at one
// point a second they need no rate limit.
func (s *Server) apiStreamMetrics(w http.ResponseWriter, r *http.Request) {
	run, after, ok := s.streamSetup(w, r)
	if !ok {
		return
	}
	st := &seqStream[metrics.Point]{
		hubs: s.cfg.Operator.MetricHubs(), run: run, getRun: s.getRunFunc(run.ID), last: after,
		encode: func(p metrics.Point) any { return newPointJSON(p) },
		readRange: func(from, to int64) ([]metrics.Point, error) {
			pts, err := readMetrics(run)
			if err != nil {
				return nil, err
			}
			out := pts[:0]
			for _, p := range pts {
				if p.N >= from && (to < 0 || p.N <= to) {
					out = append(out, p)
				}
			}
			return out, nil
		},
		now: time.Now,
	}
	sse, err := startSSE(w)
	if err != nil {
		s.endStream(r, run, err)
		return
	}
	st.sse = sse
	s.endStream(r, run, st.serve(r.Context()))
}
