package webui

import (
	"context"
	"encoding/json"
	"fmt"
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

// skipped is the data of a "skipped" event: a run of consecutive item
// numbers not sent.
type skipped struct {
	Skipped int64 `json:"skipped"`
	From    int64 `json:"from"`
	To      int64 `json:"to"`
}

// sseSink frames what a logs.Follower delivers as events: an item is an
// event whose id is its number, a gap a "skipped" event whose id is the
// last number it covers, so a client that reconnects resumes after the
// skipped items rather than being sent them now.
type sseSink[T logs.Sequenced] struct {
	sse    *sseWriter
	encode func(T) any
}

func (s *sseSink[T]) Item(v T) error {
	data, err := json.Marshal(s.encode(v))
	if err != nil {
		return fmt.Errorf("encode item %d: %w", v.Seq(), err)
	}
	return s.sse.event(v.Seq(), "", data)
}

func (s *sseSink[T]) Skipped(g logs.Gap) error {
	data, _ := json.Marshal(skipped(g)) // three integers cannot fail
	return s.sse.event(g.To, "skipped", data)
}

func (s *sseSink[T]) Flush() error     { return s.sse.flush() }
func (s *sseSink[T]) Heartbeat() error { return s.sse.ping() }

// streamEnd is the data of the "end" event.
type streamEnd struct {
	Status   status.RunStatus `json:"status"`
	ExitCode *int             `json:"exit_code"`
	Last     int64            `json:"last"`
}

// serveStream follows run's items from hubs and src onto the response: the
// events of the follower, then an "end" event with the final status once
// the run has ended and everything was sent.
func serveStream[T logs.Sequenced](ctx context.Context, w http.ResponseWriter, hubs *logs.Hubs[T], src logs.Source[T],
	getRun func(context.Context) (status.Run, error), id string, opts logs.FollowOptions, encode func(T) any) error {
	var final status.Run
	ended := func(ctx context.Context) (bool, error) {
		run, err := getRun(ctx)
		if err != nil {
			return false, err
		}
		final = run
		return run.Status.Final(), nil
	}
	opts.Heartbeat, opts.NoticeEvery, opts.Poll = sseHeartbeat, sseNoticeEvery, ssePoll
	f := logs.NewFollower(hubs, id, src, ended, opts)
	sse, err := startSSE(w)
	if err != nil {
		return err
	}
	if err := f.Follow(ctx, &sseSink[T]{sse: sse, encode: encode}); err != nil {
		return err
	}
	end, _ := json.Marshal(streamEnd{final.Status, final.ExitCode, f.Last()}) // plain fields cannot fail
	if err := sse.event(0, "end", end); err != nil {
		return err
	}
	return sse.flush()
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
	if !ok || logGone(w, run) {
		return
	}
	src := logs.NewFileSource(run.LogPath)
	defer src.Close()
	err := serveStream(r.Context(), w, s.cfg.Operator.LogHubs(), src, s.getRunFunc(run.ID), run.ID,
		logs.FollowOptions{After: after, Rate: s.logStreamRateLimit()}, func(l logs.Line) any { return l })
	s.endStream(r, run, err)
}

// apiStreamMetrics streams a run's metrics points like apiStreamLogs; at one
// point a second they need no rate limit.
func (s *Server) apiStreamMetrics(w http.ResponseWriter, r *http.Request) {
	run, after, ok := s.streamSetup(w, r)
	if !ok || logGone(w, run) {
		return
	}
	err := serveStream(r.Context(), w, s.cfg.Operator.MetricHubs(), metricsSource{run}, s.getRunFunc(run.ID), run.ID,
		logs.FollowOptions{After: after}, func(p metrics.Point) any { return newPointJSON(p) })
	s.endStream(r, run, err)
}

// metricsSource is the stored metrics of a run as a follower reads them.
// The file is small (a point a second) and read whole each time.
type metricsSource struct{ run status.Run }

func (m metricsSource) Range(from, to int64) ([]metrics.Point, error) {
	pts, err := readMetrics(m.run)
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
}

func (m metricsSource) Tail(n int) ([]metrics.Point, int64, error) {
	pts, err := readMetrics(m.run)
	if err != nil || len(pts) == 0 {
		return nil, 0, err
	}
	return pts[max(len(pts)-n, 0):], pts[len(pts)-1].N, nil
}
