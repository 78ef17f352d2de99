package logs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// LimitMarkerPrefix starts the system line a Writer stores when the log
// reaches Options.MaxBytes. Open recognises it when it reopens a log, so the
// marker is stored once per log even across an operator restart.
const LimitMarkerPrefix = "log limit of "

// Options tune a Writer. The zero value stores every line unmasked and
// publishes nowhere.
type Options struct {
	// MaxBytes bounds the file (LOG_MAX_SIZE_MB); 0 means unlimited. When a
	// line would exceed it, one system marker line is stored and later lines
	// are numbered and published but not stored; the run goes on.
	MaxBytes int64
	// Masker masks every line before it is stored or published.
	Masker *Masker
	// Hub receives every line, the marker included. The Writer does not
	// close it: the hub's owner (the Hubs registry) does.
	Hub *Hub[Line]
	// Now stamps lines that arrive without a time (system notices); nil
	// means time.Now. For tests.
	Now func() time.Time
}

// Writer stores the lines of one run in its log file. It buffers writes and
// is meant for the run's own goroutine, off any request path; it is safe
// for concurrent use all the same, and Lines, Bytes and Limited may be read
// from any goroutine.
//
// A Writer that opened successfully must be closed; Close flushes and is
// safe to call more than once.
type Writer struct {
	path string
	opts Options
	now  func() time.Time

	lines   atomic.Int64 // lines numbered: stored and, past the limit, dropped
	bytes   atomic.Int64 // bytes in the file
	limited atomic.Bool

	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	buf       []byte
	unflushed int
	closed    bool
	// good is the file's size after the last write that reached it; a
	// failed write (a full disk) cuts the file back to it, so the file
	// never ends in half a line.
	good int64
	// lost counts lines that could not be stored since the last one that
	// was; lostTotal all of them, lostErr the first reason.
	lost, lostTotal int64
	lostErr         error
}

// Open opens the log at path for appending, creating it and its directory if
// needed. An existing log (a run resumed after an operator restart) is
// continued: a last line cut short by a crash is removed, numbering goes on
// from the lines already stored, and a log that already carries the limit
// marker stays limited.
func Open(path string, opts Options) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w, err := resume(f, opts)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	w.path = path
	return w, nil
}

func resume(f *os.File, opts Options) (*Writer, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	end, err := completeEnd(f, st.Size())
	if err != nil {
		return nil, err
	}
	if end < st.Size() {
		if err := f.Truncate(end); err != nil {
			return nil, fmt.Errorf("truncate partial line: %w", err)
		}
	}
	n, err := countLines(f, end)
	if err != nil {
		return nil, err
	}
	limited := false
	err = scanBack(f, end, func(b []byte) bool {
		l := lenientLine(0, b)
		limited = l.Stream == StreamSystem && strings.HasPrefix(l.Text, LimitMarkerPrefix)
		return false
	})
	if err != nil {
		return nil, err
	}
	w := &Writer{opts: opts, now: opts.Now, f: f, w: bufio.NewWriterSize(f, chunkSize)}
	if w.now == nil {
		w.now = time.Now
	}
	w.lines.Store(n)
	w.bytes.Store(end)
	w.good = end
	w.limited.Store(limited)
	return w, nil
}

// Path returns the file the writer writes.
func (w *Writer) Path() string { return w.path }

// Lines returns the number of lines so far, those dropped past MaxBytes
// included: the number of the last line.
func (w *Writer) Lines() int64 { return w.lines.Load() }

// Bytes returns the size of the log file, buffered bytes included.
func (w *Writer) Bytes() int64 { return w.bytes.Load() }

// Limited reports whether MaxBytes was reached.
func (w *Writer) Limited() bool { return w.limited.Load() }

// LostMarkerPrefix starts the system line a Writer stores once writing
// works again after lines could not be stored.
const LostMarkerPrefix = "log incomplete: "

// Lost reports how many lines could not be stored (a full or failing
// disk) and the first error. Lines over MaxBytes are not lost: the limit
// marker says they were dropped on purpose.
func (w *Writer) Lost() (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lostTotal, w.lostErr
}

// Write masks line, stores it and publishes it to the hub. A text with
// embedded newlines becomes several lines, each numbered, so that the file
// keeps one line per record. A zero Time is stamped with the current time;
// an empty Stream means stdout.
func (w *Writer) Write(line runtime.LogLine) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if line.Stream == "" {
		line.Stream = StreamStdout
	}
	if !validStream(line.Stream) {
		return fmt.Errorf("%w: %q", ErrBadStream, line.Stream)
	}
	if line.Time.IsZero() {
		line.Time = w.now()
	}
	line.Time = line.Time.UTC()
	text := w.opts.Masker.Mask(line.Text)
	var errs []error
	for {
		part, rest, more := strings.Cut(text, "\n")
		if err := w.writeOne(line.Time, line.Stream, part); err != nil {
			errs = append(errs, err)
		}
		if !more {
			break
		}
		text = rest
	}
	return errors.Join(errs...)
}

// writeOne stores and publishes one line; w.mu is held. The line reaches the
// hub even when the file write fails: the live view goes on.
func (w *Writer) writeOne(t time.Time, stream, text string) error {
	w.buf = appendLine(w.buf[:0], t, stream, text)
	limit := w.opts.MaxBytes
	var err error
	if !w.limited.Load() && limit > 0 && w.bytes.Load()+int64(len(w.buf)) > limit {
		w.limited.Store(true)
		marker := fmt.Sprintf("%s%s reached: further output is not stored (the run goes on)",
			LimitMarkerPrefix, formatSize(limit))
		// The marker may overshoot MaxBytes by its own length; that is the
		// price of saying why the log stops.
		mb := appendLine(nil, t, StreamSystem, marker)
		err = w.store(mb)
		w.publish(t, StreamSystem, marker)
		if ferr := w.flush(); err == nil {
			err = ferr
		}
	}
	if !w.limited.Load() {
		if w.lost > 0 {
			// Space is back, perhaps: say first what is missing.
			marker := fmt.Sprintf("%s%d lines could not be stored: %v", LostMarkerPrefix, w.lost, w.lostErr)
			if merr := w.storeNow(appendLine(nil, t, StreamSystem, marker)); merr == nil {
				w.lost = 0
				w.publish(t, StreamSystem, marker)
			}
		}
		if w.lost > 0 {
			err = w.loseLine(fmt.Errorf("write %s: still failing", w.path))
		} else {
			err = w.store(w.buf)
		}
	}
	w.publish(t, stream, text)
	return err
}

// storeNow writes b through to the file at once, for the marker after
// lost lines: it is known stored or not.
func (w *Writer) storeNow(b []byte) error {
	if err := w.store(b); err != nil {
		return err
	}
	return w.flush()
}

// loseLine counts one line that could not be stored.
func (w *Writer) loseLine(err error) error {
	w.lost++
	w.lostTotal++
	if w.lostErr == nil {
		w.lostErr = err
	}
	return err
}

// store appends b to the file buffer and keeps the file at least as complete
// as the hub is forgetful: once as many lines are buffered as the hub keeps,
// they are flushed, so any line the hub has dropped from its replay is
// readable from the file.
func (w *Writer) store(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return w.failed(fmt.Errorf("write %s: %w", w.path, err), w.unflushed+1)
	}
	w.bytes.Add(int64(len(b)))
	w.unflushed++
	if w.opts.Hub != nil && w.unflushed >= w.opts.Hub.Keep() {
		return w.flush()
	}
	return nil
}

func (w *Writer) publish(t time.Time, stream, text string) {
	n := w.lines.Add(1)
	if w.opts.Hub != nil {
		w.opts.Hub.Publish(Line{N: n, Time: t, Stream: stream, Text: text})
	}
}

func (w *Writer) flush() error {
	pending := w.unflushed
	w.unflushed = 0
	if err := w.w.Flush(); err != nil {
		return w.failed(fmt.Errorf("flush %s: %w", w.path, err), pending)
	}
	w.good = w.bytes.Load()
	return nil
}

// failed handles a write that did not reach the file: the buffered lines
// (lines of them) are counted lost, the file is cut back to its last good
// size and the buffer emptied, so a later write starts on a whole line.
// bufio keeps a write error for good; a new buffer lets writing resume
// once the disk has space again.
func (w *Writer) failed(err error, lines int) error {
	for range max(lines, 1) {
		_ = w.loseLine(err)
	}
	w.unflushed = 0
	if terr := w.f.Truncate(w.good); terr != nil {
		err = errors.Join(err, fmt.Errorf("truncate %s: %w", w.path, terr))
	}
	w.bytes.Store(w.good)
	w.w = bufio.NewWriterSize(w.f, w.w.Size())
	return err
}

// Flush writes buffered lines to the file, so readers of the file see them.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.flush()
}

// Close flushes and closes the file. Calls after the first return nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	ferr := w.flush()
	if err := w.f.Close(); err != nil {
		return errors.Join(ferr, fmt.Errorf("close %s: %w", w.path, err))
	}
	return ferr
}

// formatSize writes a byte count the way LOG_MAX_SIZE_MB is set.
func formatSize(n int64) string {
	const mib = 1 << 20
	if n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}
