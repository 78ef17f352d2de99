package logs

import (
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Resume tells, in a log stream re-opened after an operator restart with
// Since set to the time of the last stored line (see LastLine), which lines
// are already in the file. Backends yield lines at or after Since, in
// order, so a line before that time, or at that time up to and including the
// stored last line, was stored before; everything after it is new.
//
// Lines are compared masked, as they were stored. Two identical lines
// stamped with the same nanosecond at the resume point cannot be told apart:
// the second is taken as new. A Resume is for one goroutine.
type Resume struct {
	last   runtime.LogLine
	masker *Masker
	past   bool
}

// NewResume starts deciding for a stream resumed after last, the line
// LastLine returned; a zero last means nothing was stored and every line is
// new. m is the run's Masker (nil for none).
func NewResume(last runtime.LogLine, m *Masker) *Resume {
	return &Resume{last: last, masker: m, past: last.Time.IsZero()}
}

// Stored reports whether l is already in the log file and must be dropped.
func (r *Resume) Stored(l runtime.LogLine) bool {
	if r.past {
		return false
	}
	switch {
	case l.Time.Before(r.last.Time):
		return true
	case l.Time.Equal(r.last.Time):
		if l.Stream == r.last.Stream && r.masker.Mask(l.Text) == r.last.Text {
			r.past = true
		}
		return true
	default:
		r.past = true
		return false
	}
}

// Since returns the time to resume the backend's stream from.
func (r *Resume) Since() time.Time { return r.last.Time }
