package webui

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// Page sizes of GET /api/runs/{id}/logs in JSON. A log can be far bigger
// than anyone wants in one JSON document; ?format=text and ?download=1
// stream the whole file instead.
const (
	defaultLogPage = 1000
	maxLogPage     = 10000
)

// intParam reads a query integer in [lo, hi]; absent is def.
func intParam(r *http.Request, key string, def, lo, hi int64) (int64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want an integer from %d to %d", key, v, lo, hi)
	}
	return n, nil
}

// apiRunLogs answers the stored log of a run: JSON pages of lines by
// default (?after=N or ?cursor=N, ?limit=), the last lines with ?tail=N,
// the text alone with ?format=text, and the stored file as an attachment
// with ?download=1.
func (s *Server) apiRunLogs(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runFromPath(w, r)
	if !ok || logGone(w, run) {
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format != "" && format != "json" && format != "text" {
		writeError(w, http.StatusBadRequest, "invalid query", map[string]string{"format": fmt.Sprintf("%q: want json or text", format)})
		return
	}
	if d := q.Get("download"); d == "1" || d == "true" {
		s.downloadLog(w, r, run)
		return
	}
	tail, err := intParam(r, "tail", 0, 1, maxLogPage)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid query", err.Error())
		return
	}
	if tail > 0 {
		lines, err := logs.Tail(run.LogPath, int(tail))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.writeOpError(w, r, fmt.Errorf("tail log of %s: %w", run.ID, err))
			return
		}
		s.writeLines(w, format, lines, "")
		return
	}
	if format == "text" {
		s.streamLogText(w, r, run)
		return
	}
	afterKey := "after"
	if q.Get("cursor") != "" {
		afterKey = "cursor"
	}
	after, err := intParam(r, afterKey, 0, 0, 1<<62)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid query", err.Error())
		return
	}
	limit, err := intParam(r, "limit", defaultLogPage, 1, maxLogPage)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid query", err.Error())
		return
	}
	lines, err := logs.Read(run.LogPath, after+1, int(limit))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.writeOpError(w, r, fmt.Errorf("read log of %s: %w", run.ID, err))
		return
	}
	next := ""
	if int64(len(lines)) == limit {
		next = strconv.FormatInt(lines[len(lines)-1].N, 10)
	}
	s.writeLines(w, "json", lines, next)
}

func (s *Server) writeLines(w http.ResponseWriter, format string, lines []logs.Line, next string) {
	if format == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var b bytes.Buffer
		for _, l := range lines {
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		_, _ = w.Write(b.Bytes())
		return
	}
	if lines == nil {
		lines = []logs.Line{}
	}
	writeJSON(w, http.StatusOK, listJSON[logs.Line]{Items: lines, NextCursor: next})
}

// streamLogText writes the text of every stored line, one per line,
// reading the file a chunk at a time.
func (s *Server) streamLogText(w http.ResponseWriter, r *http.Request, run status.Run) {
	f, err := os.Open(run.LogPath)
	if errors.Is(err, fs.ErrNotExist) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		return
	}
	if err != nil {
		s.writeOpError(w, r, fmt.Errorf("open log of %s: %w", run.ID, err))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	br := bufio.NewReaderSize(f, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			_, _ = bw.Write(lineText(line))
		}
		if err != nil {
			// EOF, or a partial last line still being written: the
			// complete lines are what the log holds so far.
			break
		}
		if r.Context().Err() != nil {
			return
		}
	}
	_ = bw.Flush()
}

// lineText is the text of a stored line ("<time> <stream> <text>\n"),
// newline included. A line not in that form is returned whole.
func lineText(b []byte) []byte {
	_, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return b
	}
	_, text, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return b
	}
	return text
}

// downloadLog serves the stored file as it is, through http.ServeContent:
// streamed from disk, with Range support for resuming a big download.
func (s *Server) downloadLog(w http.ResponseWriter, r *http.Request, run status.Run) {
	f, err := os.Open(run.LogPath)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, "not found", "the run has no log yet")
		return
	}
	if err != nil {
		s.writeOpError(w, r, fmt.Errorf("open log of %s: %w", run.ID, err))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.writeOpError(w, r, fmt.Errorf("stat log of %s: %w", run.ID, err))
		return
	}
	// The name is built from validated values only: a safe pipeline name
	// (it was a directory of the repository) and a UUID.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, run.Pipeline+"-"+run.ID+".log"))
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// pointJSON is a metrics point with its number, the SSE event ID.
type pointJSON struct {
	N int64 `json:"n"`
	metrics.Point
}

func newPointJSON(p metrics.Point) pointJSON { return pointJSON{N: p.N, Point: p} }

// readMetrics returns the run's stored points; none while there is no file.
func readMetrics(run status.Run) ([]metrics.Point, error) {
	if run.MetricsPath == "" {
		return nil, nil
	}
	pts, err := metrics.ReadAll(run.MetricsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read metrics of %s: %w", run.ID, err)
	}
	return pts, nil
}

func (s *Server) apiRunMetrics(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runFromPath(w, r)
	if !ok || logGone(w, run) {
		return
	}
	pts, err := readMetrics(run)
	if err != nil {
		s.writeOpError(w, r, err)
		return
	}
	out := listJSON[pointJSON]{Items: make([]pointJSON, 0, len(pts))}
	for _, p := range pts {
		out.Items = append(out.Items, newPointJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
}

// runHealthJSON is the answer of GET /api/runs/{id}/health: is the run
// alive, and how is it doing.
type runHealthJSON struct {
	ID     string           `json:"id"`
	Status status.RunStatus `json:"status"`
	// Running is true while the run's status is RUNNING; Supervised while
	// this operator follows its container live (a run left by a stopped
	// operator stays RUNNING, unsupervised, until the next start).
	Running           bool       `json:"running"`
	Supervised        bool       `json:"supervised"`
	ContainerID       string     `json:"container_id"`
	StartedAt         *time.Time `json:"started_at"`
	LastMetrics       *pointJSON `json:"last_metrics"`
	LastOutputAt      *time.Time `json:"last_output_at"`
	LogLines          int64      `json:"log_lines"`
	SoftLimitExceeded bool       `json:"soft_limit_exceeded"`
	Throttled         bool       `json:"throttled"`
	PeakCPUPercent    float64    `json:"peak_cpu_percent"`
	PeakRAMMB         float64    `json:"peak_ram_mb"`
	// ContainerHealth is the history of the image's health check, null
	// for a run whose container has none.
	ContainerHealth *containerHealthJSON `json:"container_health"`
}

func (s *Server) apiRunHealth(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runFromPath(w, r)
	if !ok {
		return
	}
	rj := newRunJSON(run)
	_, supervised := s.cfg.Operator.LogHubs().Get(run.ID)
	h := runHealthJSON{
		ID: run.ID, Status: run.Status, Running: run.Status == status.RunRunning, Supervised: supervised,
		ContainerID: run.ContainerID, StartedAt: rj.StartedAt, SoftLimitExceeded: run.SoftLimitExceeded,
		PeakCPUPercent: rj.PeakCPUPercent, PeakRAMMB: rj.PeakRAMMB,
	}
	pts, err := readMetrics(run)
	if err != nil {
		s.writeOpError(w, r, err)
		return
	}
	if len(pts) > 0 {
		p := newPointJSON(pts[len(pts)-1])
		h.LastMetrics = &p
		h.Throttled = p.Throttled
		h.SoftLimitExceeded = h.SoftLimitExceeded || p.SoftLimitExceeded
	}
	last, n, err := logs.LastLine(run.LogPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.writeOpError(w, r, fmt.Errorf("last log line of %s: %w", run.ID, err))
		return
	}
	h.LastOutputAt, h.LogLines = timeOrNil(last.Time), n
	if h.ContainerHealth, err = readHealth(run); err != nil {
		s.writeOpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}
