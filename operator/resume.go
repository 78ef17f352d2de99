package operator

import (
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

const (
	// resumeWindow is how far before the last stored line a re-read after
	// a restart starts.
	resumeWindow = 5 * time.Second
	// resumeSkew is how far after the last stored line's time its stored
	// twin may be stamped. Stored lines carry their arrival time on the
	// attached stream; the daemon stamps its own copy when its log copier
	// reads it, which under load can be before or after that arrival.
	resumeSkew = 2 * time.Second
)

// resumer picks the new lines out of a stream re-read after a restart. The
// stream starts resumeWindow before the last stored line; lines up to
// resumeSkew after its time are held until it is clear where the stored
// part ends: right after the held line equal to the last stored one whose
// time is nearest to it. Lines later than that are new in any case. If the
// last stored line is not among the held ones, it is older than the window,
// so every line read is new.
//
// The file holds masked text, so lines are compared masked.
type resumer struct {
	last    runtime.LogLine // as stored: masked text
	mask    func(string) string
	held    []runtime.LogLine
	matched int // index in held of the best match, -1 for none
	best    time.Duration
	done    bool
}

func newResumer(last runtime.LogLine, mask func(string) string) *resumer {
	return &resumer{last: last, mask: mask, matched: -1, done: last.Time.IsZero()}
}

// since is where to start reading; zero means from the beginning.
func (r *resumer) since() time.Time {
	if r.last.Time.IsZero() {
		return time.Time{}
	}
	return r.last.Time.Add(-resumeWindow)
}

// feed takes the next line read and returns the lines now known to be new.
func (r *resumer) feed(l runtime.LogLine) []runtime.LogLine {
	if r.done {
		return []runtime.LogLine{l}
	}
	if l.Time.After(r.last.Time.Add(resumeSkew)) {
		return append(r.settle(), l)
	}
	r.held = append(r.held, l)
	if l.Stream == r.last.Stream && r.mask(l.Text) == r.last.Text {
		d := l.Time.Sub(r.last.Time).Abs()
		if r.matched < 0 || d < r.best {
			r.matched, r.best = len(r.held)-1, d
		}
	}
	return nil
}

// flush returns the held lines that are new, at the end of the stream.
func (r *resumer) flush() []runtime.LogLine {
	if r.done {
		return nil
	}
	return r.settle()
}

func (r *resumer) settle() []runtime.LogLine {
	r.done = true
	out := r.held[r.matched+1:]
	r.held = nil
	return out
}
