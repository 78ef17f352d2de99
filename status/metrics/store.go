package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/fastflow-dev/fastflow/status/logs"
)

// ErrClosed: the writer was closed.
var ErrClosed = errors.New("metrics: closed")

// fileSuffix names a run's metrics file beside its log.
const fileSuffix = "_metrics.jsonl"

// Path returns LOGS_DIR/<pipeline>/<run_id>_metrics.jsonl, refusing names
// that are not safe (see logs.CheckName).
func Path(logsDir, pipeline, runID string) (string, error) {
	return logs.RunFile(logsDir, pipeline, runID, fileSuffix)
}

// Options tune a Writer.
type Options struct {
	// Hub receives every point; the Writer does not close it.
	Hub *logs.Hub[Point]
}

// Writer appends the points of one run to its metrics file, one JSON object
// a line, and publishes them. Points come about once a second, so each is
// written straight to the file: a reader of the file is never behind. Safe
// for concurrent use; a Writer that opened must be closed, and Close is safe
// to call more than once.
type Writer struct {
	path string
	opts Options
	n    atomic.Int64

	mu     sync.Mutex
	f      *os.File
	buf    bytes.Buffer
	closed bool
}

// Open opens the metrics file at path for appending, creating it and its
// directory. Numbering continues after the points already stored, so a run
// resumed after a restart keeps one sequence; a last line cut short by a
// crash is removed.
func Open(path string, opts Options) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create metrics dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n, end, err := countComplete(f)
	if err == nil {
		err = f.Truncate(end)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	w := &Writer{path: path, opts: opts, f: f}
	w.n.Store(n)
	return w, nil
}

// countComplete counts the complete lines of f and where they end.
func countComplete(f *os.File) (n, end int64, err error) {
	r := bufio.NewReader(f)
	for {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return n, end, nil
		}
		if err != nil {
			return 0, 0, err
		}
		n++
		end += int64(len(b))
	}
}

// Points returns the number of points written, those of earlier sessions
// included.
func (w *Writer) Points() int64 { return w.n.Load() }

// Write numbers p, stores it and publishes it.
func (w *Writer) Write(p Point) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	p.Timestamp = p.Timestamp.UTC()
	p.N = w.n.Add(1)
	w.buf.Reset()
	// Encode cannot fail on a Point: no channels, funcs or NaN (round2 of a
	// finite value), and it appends the newline.
	if err := json.NewEncoder(&w.buf).Encode(p); err != nil {
		return fmt.Errorf("encode point: %w", err)
	}
	_, err := w.f.Write(w.buf.Bytes())
	if err != nil {
		err = fmt.Errorf("write %s: %w", w.path, err)
	}
	if w.opts.Hub != nil {
		w.opts.Hub.Publish(p)
	}
	return err
}

// Close closes the file. Calls after the first return nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.path, err)
	}
	return nil
}

// ReadAll returns the points stored at path, numbered from 1. A last line
// cut short (a run still writing, or a crash) is left out; a line that is
// not a point is an error naming it.
func ReadAll(path string) ([]Point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []Point
	for n := int64(1); ; n++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		var p Point
		if err := decodePoint(b, &p); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		p.N = n
		out = append(out, p)
	}
}
