package operator

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// transcript is where a run's output goes, across the sessions of one run:
// a re-read after a restart or a runtime outage skips what is stored
// already (the resumer), the wrapper's marker lines are consumed, and every
// other line is written to the log. Its methods are called by one session's
// log pump at a time.
type transcript struct {
	w      *logs.Writer
	masker *logs.Masker
	mk     *markers
	log    *slog.Logger

	// last is the last line stored (unmasked), where the next session
	// resumes; res is the current session's resumer.
	last runtime.LogLine
	res  *resumer
	// stored counts the lines received (written or, on a failing disk,
	// lost), for the stall check.
	stored atomic.Int64
	// writeFailed is set once a write failed; the Writer counts what is
	// lost and stores a marker when writing works again.
	writeFailed bool
	// outage is set when the runtime went away during the run, from
	// outageFrom until backAt (the last time it came back).
	outage             bool
	outageFrom, backAt time.Time
	// incomplete, when set, says why lines may be missing from the log.
	incomplete string
}

// since is where the next session reads from. It starts a new resumer, so
// call it once per session, before the session's first line.
func (t *transcript) since() time.Time {
	last := t.last
	last.Text = t.masker.Mask(last.Text)
	t.res = newResumer(last, t.masker.Mask)
	return t.res.since()
}

func (t *transcript) line(l runtime.LogLine) bool {
	return t.store(t.res.feed(l))
}

func (t *transcript) eof() { t.store(t.res.flush()) }

func (t *transcript) store(lines []runtime.LogLine) bool {
	for _, l := range lines {
		if l.Stream == logs.StreamStdout && t.mk.parseMarker(l.Text) {
			continue
		}
		if err := t.w.Write(l); err != nil && !t.writeFailed {
			// Keep reading: the container must not block on a full pipe,
			// the live view goes on, and the Writer says what is lost.
			t.writeFailed = true
			t.log.Error("write log; lines are lost until it works again", "err", err)
		}
		t.last = l
		t.stored.Add(1)
	}
	return true
}

// firstLine is the first line of a (runtime's) error text, for a status
// message.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// flushEvery flushes w every d until ctx ends, so readers of the file lag
// the live hub by at most d. Flushing is I/O hygiene, not behaviour a test
// pins, so it runs on real time.
func flushEvery(ctx context.Context, w *logs.Writer, d time.Duration, log *slog.Logger) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.Flush(); err != nil && !errors.Is(err, logs.ErrClosed) {
				log.Warn("flush log", "err", err)
			}
		}
	}
}
