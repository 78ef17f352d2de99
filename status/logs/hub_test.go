package logs

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

type item int64

func (i item) Seq() int64 { return int64(i) }

func drain[T Sequenced](s *Subscription[T]) []int64 {
	var got []int64
	for v := range s.C() {
		got = append(got, v.Seq())
	}
	return got
}

func seqs(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHubReplay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		keep      int
		published int64
		after     int64
		want      []int64
	}{
		{"nothing published", 5, 0, 0, nil},
		{"all kept", 5, 3, 0, seqs(1, 3)},
		{"ring wrapped keeps the last", 5, 12, 0, seqs(8, 12)},
		{"after inside the ring", 5, 12, 9, seqs(10, 12)},
		{"after the last", 5, 12, 12, nil},
		{"after beyond the last", 5, 12, 40, nil},
		{"keep below one keeps one", 0, 4, 0, []int64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHub[item](tt.keep)
			for i := int64(1); i <= tt.published; i++ {
				h.Publish(item(i))
			}
			s := h.Subscribe(tt.after)
			h.Close()
			if got := drain(s); !equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if s.Err() != nil || s.Dropped() {
				t.Errorf("Err = %v after a normal end", s.Err())
			}
			if h.Last() != tt.published {
				t.Errorf("Last() = %d", h.Last())
			}
		})
	}
}

// TestHubSubscribeWhilePublishing subscribes readers at random moments of a
// concurrent publisher: each must see every item after its starting point
// exactly once, in order: no gap and no duplicate where the replay meets the
// live items. The ring holds everything, so the replay can always reach back
// to the starting point.
func TestHubSubscribeWhilePublishing(t *testing.T) {
	t.Parallel()
	const total = 5_000
	h := NewHub[item](total, WithBuffer(total)) // readers never cut off
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := int64(1); i <= total; i++ {
			h.Publish(item(i))
		}
		h.Close()
	})
	errs := make(chan error, 40)
	for k := range 40 {
		wg.Go(func() {
			// Start a little behind wherever the publisher is now.
			after := max(h.Last()-int64(k), 0)
			s := h.Subscribe(after)
			got := drain(s)
			switch {
			case s.Err() != nil:
				errs <- s.Err()
			case !equal(got, seqs(after+1, total)):
				errs <- fmt.Errorf("after %d: got %d items from %v, want %d..%d", after, len(got), first(got), after+1, total)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func first(s []int64) any {
	if len(s) == 0 {
		return "nothing"
	}
	return s[0]
}

// TestHubSlowReaderCutOff: a reader that never reads is cut off, and a
// publisher of 100k items finishes regardless.
func TestHubSlowReaderCutOff(t *testing.T) {
	t.Parallel()
	const total = 100_000
	h := NewHub[item](100, WithBuffer(10))
	stuck := h.Subscribe(0)
	live := h.Subscribe(0)
	var got []int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		got = drain(live)
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); i <= total; i++ {
			h.Publish(item(i))
			if i%1000 == 0 {
				// Let the live reader keep up; the stuck one never reads.
				for h.Last() == i && len(live.c) > 0 {
					time.Sleep(10 * time.Microsecond)
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the publisher was blocked by a reader that never reads")
	}
	// The stuck reader holds at most its buffer, then its channel is closed.
	n := 0
	for range stuck.C() {
		n++
	}
	if !stuck.Dropped() || !errors.Is(stuck.Err(), ErrSlowReader) {
		t.Errorf("stuck reader: Dropped %v, Err %v", stuck.Dropped(), stuck.Err())
	}
	if n != 10 {
		t.Errorf("stuck reader got %d items before the cut, want its buffer of 10", n)
	}
	h.Close()
	<-readerDone
	if !live.Dropped() && len(got) != total {
		t.Errorf("live reader got %d items without being cut off", len(got))
	}
	// A cut-off reader resumes where it stopped; what the hub still keeps it
	// gets again, the rest is the log file's.
	again := h.Subscribe(total - 5)
	if g := drain(again); !equal(g, seqs(total-4, total)) {
		t.Errorf("resubscribe got %v", g)
	}
}

func TestSubscriptionClose(t *testing.T) {
	t.Parallel()
	h := NewHub[item](4, WithBuffer(1))
	s := h.Subscribe(0)
	s.Close()
	s.Close()
	h.Publish(1) // must not panic on the closed channel
	if _, ok := <-s.C(); ok {
		t.Error("channel open after Close")
	}
	if s.Err() != nil {
		t.Errorf("Err = %v after own Close", s.Err())
	}
	h.Close()
	h.Close()
	h.Publish(2) // ignored after Close
	if h.Last() != 1 {
		t.Errorf("Last() = %d after publishing on a closed hub", h.Last())
	}
	s.Close()
}

func TestHubs(t *testing.T) {
	t.Parallel()
	r := NewHubs[Line](10)
	if _, ok := r.Get("run1"); ok {
		t.Fatal("Get of an unknown run found a hub")
	}
	h := r.Open("run1")
	if h2 := r.Open("run1"); h2 != h {
		t.Error("Open twice gave two hubs")
	}
	if got, ok := r.Get("run1"); !ok || got != h {
		t.Error("Get did not find the open hub")
	}
	s := h.Subscribe(0)
	r.Open("run2")
	r.Close("run1")
	r.Close("unknown")
	if _, ok := <-s.C(); ok {
		t.Error("subscriber not ended by Close")
	}
	if _, ok := r.Get("run1"); ok {
		t.Error("closed hub still registered")
	}
	s2 := r.Open("run2").Subscribe(0)
	r.CloseAll()
	if _, ok := <-s2.C(); ok || r.Len() != 0 {
		t.Error("CloseAll left a hub open")
	}
}
