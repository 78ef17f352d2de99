package operator

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
)

func TestResumer(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	line := func(ms int, text string) runtime.LogLine {
		return runtime.LogLine{Time: at(ms), Stream: "stdout", Text: text}
	}
	mask := func(s string) string { return strings.ReplaceAll(s, "hunter2", "***") }
	tests := []struct {
		name string
		last runtime.LogLine
		read []runtime.LogLine
		want []string
	}{
		{
			name: "nothing stored: everything is new",
			read: []runtime.LogLine{line(1, "a"), line(2, "b")},
			want: []string{"a", "b"},
		},
		{
			// The stored line arrived at 103 but the backend stamped it 100;
			// "c" (101) was in flight when the operator died.
			name: "arrival time later than stored time: aligned on content",
			last: line(103, "b"),
			read: []runtime.LogLine{line(99, "a"), line(100, "b"), line(101, "c"), line(200, "d")},
			want: []string{"c", "d"},
		},
		{
			// The daemon's copier stamped "b" after it reached the operator.
			name: "stored twin stamped after the arrival time",
			last: line(100, "b"),
			read: []runtime.LogLine{line(99, "a"), line(104, "b"), line(105, "c"), line(3000, "d")},
			want: []string{"c", "d"},
		},
		{
			name: "repeated text: the match nearest in time wins",
			last: line(103, "tick"),
			read: []runtime.LogLine{line(98, "tick"), line(102, "tick"), line(104, "tock"), line(200, "tick")},
			want: []string{"tock", "tick"},
		},
		{
			name: "compared masked, as stored",
			last: line(50, "token ***"),
			read: []runtime.LogLine{line(49, "token hunter2"), line(51, "next")},
			want: []string{"next"},
		},
		{
			name: "last stored line older than the window: all read lines are new",
			last: line(100, "long gone"),
			read: []runtime.LogLine{line(90, "x"), line(95, "y")},
			want: []string{"x", "y"},
		},
		{
			name: "stream ends while holding",
			last: line(100, "b"),
			read: []runtime.LogLine{line(97, "b"), line(98, "c")},
			want: []string{"c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newResumer(tt.last, mask)
			var got []string
			for _, l := range tt.read {
				for _, n := range r.feed(l) {
					got = append(got, n.Text)
				}
			}
			for _, n := range r.flush() {
				got = append(got, n.Text)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("new lines (-want +got):\n%s", diff)
			}
		})
	}
}
