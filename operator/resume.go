package operator

import (
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// resumeWindow is how far before the last stored line a re-read after a
// restart starts. Stored lines carry arrival times, a little later than the
// backend's own; the window covers that lag with a wide margin.
const resumeWindow = 5 * time.Second

// resumer picks the new lines out of a stream re-read after a restart. The
// stream starts resumeWindow before the last stored line; lines up to that
// line's time are held until it is clear where the stored part ends: right
// after the latest line equal to the last stored one. Lines after its time
// are new in any case. If the last stored line is not in the window at all,
// it is older than the window, so every line read is new.
//
// The file holds masked text, so lines are compared masked.
type resumer struct {
	last    runtime.LogLine // as stored: masked text
	mask    func(string) string
	held    []runtime.LogLine
	matched int // index in held of the latest match, -1 for none
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
	if !l.Time.After(r.last.Time) {
		r.held = append(r.held, l)
		if l.Stream == r.last.Stream && r.mask(l.Text) == r.last.Text {
			r.matched = len(r.held) - 1
		}
		return nil
	}
	return append(r.settle(), l)
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
