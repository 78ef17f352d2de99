package logs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
)

// followOutcome summarises what a follower delivered: the numbers sent,
// the gaps reported, and whether Follow returned nil (the run ended).
type followOutcome struct {
	Sent    []int64
	Skipped []Gap
	Ended   bool
}

// recordSink records deliveries and checks that numbers never go back.
type recordSink struct {
	t          *testing.T
	out        followOutcome
	last       int64
	flushes    int
	heartbeats atomic.Int64
	failItem   error
}

func (s *recordSink) Item(l Line) error {
	if s.failItem != nil {
		return s.failItem
	}
	if l.N <= s.last {
		s.t.Errorf("item %d after %d", l.N, s.last)
	}
	s.last = l.N
	s.out.Sent = append(s.out.Sent, l.N)
	return nil
}

func (s *recordSink) Skipped(g Gap) error {
	if g.From <= s.last || g.To < g.From || g.Skipped != g.To-g.From+1 {
		s.t.Errorf("gap %+v after %d", g, s.last)
	}
	s.last = g.To
	s.out.Skipped = append(s.out.Skipped, g)
	return nil
}

func (s *recordSink) Flush() error     { s.flushes++; return nil }
func (s *recordSink) Heartbeat() error { s.heartbeats.Add(1); return nil }

func seq(from, to int64) []int64 {
	var out []int64
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

// TestFollower drives a follower over a real log file and hub: what is in
// the file, what only the hub keeps, and the hand-over between them.
func TestFollower(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// lines are written before Follow starts; live ones after.
		lines, live int
		keep        int  // lines the hub keeps for replay
		open        bool // the run is still going when Follow starts
		after       int64
		rate        int
		want        followOutcome
	}{
		{
			name:  "finished run under the limit: every line, then the end",
			lines: 50, keep: 10, rate: 100,
			want: followOutcome{Sent: seq(1, 50), Ended: true},
		},
		{
			name:  "finished run over the limit: the older lines skipped, the latest sent",
			lines: 1000, keep: 10, rate: 100,
			want: followOutcome{Sent: seq(901, 1000), Skipped: []Gap{{900, 1, 900}}, Ended: true},
		},
		{
			name:  "finished run without a limit: every line",
			lines: 1000, keep: 10,
			want: followOutcome{Sent: seq(1, 1000), Ended: true},
		},
		{
			name:  "resume after a line of a finished run",
			lines: 50, keep: 10, after: 20, rate: 100,
			want: followOutcome{Sent: seq(21, 50), Ended: true},
		},
		{
			name:  "resume at the end delivers nothing and ends",
			lines: 50, keep: 10, after: 50, rate: 100,
			want: followOutcome{Ended: true},
		},
		{
			name:  "running run whose hub forgot the start: the gap comes from the file",
			lines: 100, keep: 10, open: true, rate: 1000,
			want: followOutcome{Sent: seq(1, 100), Ended: true},
		},
		{
			name:  "running run without a limit: the gap comes from the file",
			lines: 100, keep: 10, open: true,
			want: followOutcome{Sent: seq(1, 100), Ended: true},
		},
		{
			name:  "live lines after the stored ones, no gap, no duplicate",
			lines: 300, live: 3000, keep: 50, open: true, rate: 1 << 20,
			want: followOutcome{Sent: seq(1, 3300), Ended: true},
		},
		{
			name:  "resume in the middle of a live run",
			lines: 300, live: 300, keep: 50, open: true, after: 120, rate: 1 << 20,
			want: followOutcome{Sent: seq(121, 600), Ended: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f"
			path := filepath.Join(t.TempDir(), id+".log")
			hubs := NewHubs[Line](tt.keep)
			w, err := Open(path, Options{Hub: hubs.Open(id)})
			if err != nil {
				t.Fatal(err)
			}
			write := func(i int) {
				if err := w.Write(runtime.LogLine{Time: at(i), Stream: "stdout", Text: fmt.Sprintf("line %d", i)}); err != nil {
					t.Error(err)
				}
			}
			for i := 1; i <= tt.lines; i++ {
				write(i)
			}
			var final atomic.Bool
			// As the operator does: the writer closes, then the hub, then
			// the final status is recorded.
			finish := func() {
				if err := w.Close(); err != nil {
					t.Error(err)
				}
				hubs.Close(id)
				final.Store(true)
			}
			if !tt.open {
				finish()
			}
			src := NewFileSource(path)
			defer src.Close()
			ended := func(context.Context) (bool, error) { return final.Load(), nil }
			f := NewFollower(hubs, id, src, ended, FollowOptions{After: tt.after, Rate: tt.rate, Poll: 10 * time.Millisecond})
			sink := &recordSink{t: t, last: tt.after}
			done := make(chan error, 1)
			go func() { done <- f.Follow(context.Background(), sink) }()
			if tt.open {
				for i := tt.lines + 1; i <= tt.lines+tt.live; i++ {
					write(i)
					if i%100 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				finish()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				sink.out.Ended = true
			case <-time.After(30 * time.Second):
				t.Fatal("Follow did not return after the run ended")
			}
			if diff := cmp.Diff(tt.want, sink.out); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if sink.flushes == 0 {
				t.Error("Follow returned without a Flush")
			}
			if want := max(tt.after, int64(tt.lines+tt.live)); f.Last() != want {
				t.Errorf("Last() = %d, want %d", f.Last(), want)
			}
		})
	}
}

// TestFollowerWaitsForHub: a run that has not ended and has no hub yet (it
// is queued) is polled until its hub opens, then followed live.
func TestFollowerWaitsForHub(t *testing.T) {
	t.Parallel()
	id := "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f"
	path := filepath.Join(t.TempDir(), id+".log")
	hubs := NewHubs[Line](10)
	var final atomic.Bool
	src := NewFileSource(path)
	defer src.Close()
	f := NewFollower(hubs, id, src, func(context.Context) (bool, error) { return final.Load(), nil },
		FollowOptions{Rate: 100, Poll: 5 * time.Millisecond, Heartbeat: time.Millisecond})
	sink := &recordSink{t: t}
	done := make(chan error, 1)
	go func() { done <- f.Follow(context.Background(), sink) }()
	time.Sleep(30 * time.Millisecond) // a few polls with no hub and no file
	w, err := Open(path, Options{Hub: hubs.Open(id)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := w.Write(runtime.LogLine{Time: at(i), Stream: "stdout", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	hubs.Close(id)
	final.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after the run ended")
	}
	if diff := cmp.Diff(seq(1, 5), sink.out.Sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if sink.heartbeats.Load() == 0 {
		t.Error("no heartbeat while waiting for the hub")
	}
}

// TestFollowerStops: Follow returns the context's error when the reader
// leaves, and the sink's error when delivering fails.
func TestFollowerStops(t *testing.T) {
	t.Parallel()
	id := "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f"
	never := func(context.Context) (bool, error) { return false, nil }

	t.Run("reader leaves", func(t *testing.T) {
		t.Parallel()
		hubs := NewHubs[Line](10)
		hubs.Open(id)
		src := NewFileSource(filepath.Join(t.TempDir(), "missing.log"))
		defer src.Close()
		f := NewFollower(hubs, id, src, never, FollowOptions{Rate: 100})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Follow(ctx, &recordSink{t: t}) }()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Follow = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Follow did not return after the reader left")
		}
	})

	t.Run("sink fails", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), id+".log")
		hubs := NewHubs[Line](10)
		w, err := Open(path, Options{Hub: hubs.Open(id)})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(runtime.LogLine{Time: at(1), Stream: "stdout", Text: "x"}); err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		src := NewFileSource(path)
		defer src.Close()
		broken := errors.New("connection reset")
		f := NewFollower(hubs, id, src, never, FollowOptions{})
		if err := f.Follow(context.Background(), &recordSink{t: t, failItem: broken}); !errors.Is(err, broken) {
			t.Errorf("Follow = %v, want the sink's error", err)
		}
	})
}

// TestWindowLimiter: rate items per one-second window, reset by time.
func TestWindowLimiter(t *testing.T) {
	t.Parallel()
	l := &windowLimiter{rate: 100}
	steps := []struct {
		at   time.Duration
		n    int
		want int
	}{
		{0, 60, 60},
		{500 * time.Millisecond, 60, 40},
		{900 * time.Millisecond, 1, 0},
		{time.Second, 30, 30},
		{1900 * time.Millisecond, 100, 70},
		{3 * time.Second, 1000, 100},
	}
	for _, s := range steps {
		if got := l.take(t0.Add(s.at), s.n); got != s.want {
			t.Errorf("take(%d) at %s = %d, want %d", s.n, s.at, got, s.want)
		}
	}
}

// chanSink hands each delivered number to the test as it comes.
type chanSink struct{ got chan int64 }

func (s chanSink) Item(l Line) error   { s.got <- l.N; return nil }
func (s chanSink) Skipped(g Gap) error { return fmt.Errorf("unexpected gap %+v", g) }
func (chanSink) Flush() error          { return nil }
func (chanSink) Heartbeat() error      { return nil }

// TestFollowerReadsAnotherReplicasFile: a run another replica executes has
// no hub here; its lines are delivered from the shared file while it runs,
// each once and in order, resuming after a reader's Last-Event-ID, and the
// follow ends with the run.
func TestFollowerReadsAnotherReplicasFile(t *testing.T) {
	t.Parallel()
	id := "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e60"
	path := filepath.Join(t.TempDir(), id+".log")
	// The writer is the other replica's, with its own hubs.
	theirs := NewHubs[Line](16)
	w, err := Open(path, Options{Hub: theirs.Open(id)})
	if err != nil {
		t.Fatal(err)
	}
	write := func(from, to int) {
		for i := from; i <= to; i++ {
			if err := w.Write(runtime.LogLine{Time: at(i), Stream: "stdout", Text: fmt.Sprintf("line %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(1, 10)
	var final atomic.Bool
	src := NewFileSource(path)
	defer src.Close()
	f := NewFollower(NewHubs[Line](16), id, src, func(context.Context) (bool, error) { return final.Load(), nil },
		FollowOptions{After: 3, Poll: 10 * time.Millisecond})
	sink := chanSink{got: make(chan int64, 100)}
	done := make(chan error, 1)
	go func() { done <- f.Follow(context.Background(), sink) }()
	next := int64(4)
	expect := func(to int64) {
		t.Helper()
		for ; next <= to; next++ {
			select {
			case n := <-sink.got:
				if n != next {
					t.Fatalf("delivered %d, want %d", n, next)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("line %d not delivered while the run goes on", next)
			}
		}
	}
	expect(10)
	write(11, 25)
	expect(25)
	write(26, 30)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	theirs.Close(id)
	final.Store(true)
	expect(30)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not end with the run")
	}
	select {
	case n := <-sink.got:
		t.Errorf("line %d delivered twice", n)
	default:
	}
}
