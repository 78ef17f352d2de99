package fake_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime/fake"
)

// opTimer and opClock are declared here the way the operator declares its
// clock: *fake.Clock satisfies them without either package naming the
// other's types, because Timer is an alias of an unnamed interface.
type opTimer = interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type opClock interface {
	Now() time.Time
	NewTimer(d time.Duration) opTimer
}

var _ opClock = (*fake.Clock)(nil)

var t0 = time.Date(2030, time.March, 1, 12, 0, 0, 0, time.UTC)

// received reports whether ch holds a value, without waiting.
func received(ch <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestClockStartsWhereTold(t *testing.T) {
	t.Parallel()
	if got := fake.NewClock(t0).Now(); !got.Equal(t0) {
		t.Errorf("Now = %v, want %v", got, t0)
	}
	a, b := fake.NewClock(time.Time{}).Now(), fake.NewClock(time.Time{}).Now()
	if a.IsZero() || !a.Equal(b) {
		t.Errorf("default starts %v and %v, want one fixed non-zero time", a, b)
	}
}

func TestClockFiresInDeadlineOrder(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+clk.Since(t0).String()) }
	}
	clk.AfterFunc(3*time.Second, at("c"))
	clk.AfterFunc(time.Second, at("a1"))
	clk.AfterFunc(time.Second, at("a2")) // same deadline: after a1, set first
	clk.AfterFunc(2*time.Second, func() {
		at("b")()
		// Set inside the window: fires within the same Advance.
		clk.AfterFunc(500*time.Millisecond, at("b+"))
	})
	clk.AfterFunc(10*time.Second, at("late"))
	clk.Advance(5 * time.Second)
	want := []string{"a1@1s", "a2@1s", "b@2s", "b+@2.5s", "c@3s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fired (-want +got):\n%s", diff)
	}
	if d := clk.Since(t0); d != 5*time.Second {
		t.Errorf("after Advance(5s) the clock is %v on", d)
	}
}

func TestClockAfterFuncNowRunsOnNextAdvance(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	ran := false
	clk.AfterFunc(0, func() { ran = true })
	if ran {
		t.Fatal("AfterFunc(0) ran inside AfterFunc")
	}
	clk.Advance(0)
	if !ran {
		t.Error("AfterFunc(0) did not run on Advance(0)")
	}
}

func TestClockTimer(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	tm := clk.NewTimer(time.Second)
	clk.Advance(999 * time.Millisecond)
	if _, ok := received(tm.C()); ok {
		t.Fatal("fired before its time")
	}
	clk.Advance(time.Millisecond)
	if v, ok := received(tm.C()); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("at its time: %v, %v; want the deadline", v, ok)
	}

	// Reset after firing, unread: the stale value is dropped.
	clk.Advance(0)
	tm.Reset(time.Second)
	clk.Advance(time.Second)
	tm.Reset(2 * time.Second)
	if _, ok := received(tm.C()); ok {
		t.Fatal("a value was left after Reset")
	}
	clk.Advance(2 * time.Second)
	if _, ok := received(tm.C()); !ok {
		t.Fatal("did not fire after Reset")
	}

	// Stop keeps it from firing; stopping twice is fine.
	tm.Reset(time.Second)
	tm.Stop()
	tm.Stop()
	clk.Advance(time.Hour)
	if _, ok := received(tm.C()); ok {
		t.Error("fired after Stop")
	}
	if v, ok := received(clk.NewTimer(0).C()); !ok || !v.Equal(clk.Now()) {
		t.Errorf("NewTimer(0) = %v, %v; want it fired at once", v, ok)
	}
	select {
	case <-clk.After(time.Second):
		t.Error("After fired without Advance")
	default:
	}
}

func TestClockTicker(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	tk := clk.NewTicker(time.Second)
	for i := 1; i <= 3; i++ {
		clk.Advance(time.Second)
		if v, ok := received(tk.C()); !ok || !v.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("tick %d: %v, %v", i, v, ok)
		}
	}
	// A receiver that falls behind gets one tick, as from time.Ticker.
	clk.Advance(5 * time.Second)
	if _, ok := received(tk.C()); !ok {
		t.Fatal("no tick after five periods")
	}
	if _, ok := received(tk.C()); ok {
		t.Fatal("more than one tick held for a slow receiver")
	}
	tk.Reset(10 * time.Second)
	clk.Advance(9 * time.Second)
	if _, ok := received(tk.C()); ok {
		t.Fatal("ticked before the new period")
	}
	clk.Advance(time.Second)
	if _, ok := received(tk.C()); !ok {
		t.Fatal("no tick at the new period")
	}
	tk.Stop()
	clk.Advance(time.Minute)
	if _, ok := received(tk.C()); ok {
		t.Error("ticked after Stop")
	}
}

func TestClockPanics(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	for name, f := range map[string]func(){
		"negative Advance":  func() { clk.Advance(-time.Second) },
		"zero ticker":       func() { clk.NewTicker(0) },
		"zero ticker reset": func() { clk.NewTicker(time.Second).Reset(0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestClockBlockUntil(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	// AfterFunc callbacks are no waiters: nothing blocks on them.
	clk.AfterFunc(time.Second, func() {})
	if n := clk.Waiters(); n != 0 {
		t.Fatalf("Waiters = %d with only an AfterFunc", n)
	}

	const sleepers = 3
	var wg sync.WaitGroup
	woke := make(chan time.Time, sleepers)
	for i := range sleepers {
		wg.Go(func() {
			tm := clk.NewTimer(time.Duration(i+1) * time.Second)
			defer tm.Stop()
			woke <- <-tm.C()
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, sleepers); err != nil {
		t.Fatal(err)
	}
	clk.Advance(sleepers * time.Second)
	wg.Wait()
	close(woke)
	n := 0
	for range woke {
		n++
	}
	if n != sleepers {
		t.Errorf("%d of %d sleepers woke", n, sleepers)
	}
	if w := clk.Waiters(); w != 0 {
		t.Errorf("Waiters = %d after every timer fired", w)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if err := clk.BlockUntil(short, 1); err == nil {
		t.Error("BlockUntil(1) with no timer returned nil")
	}
}

// TestClockConcurrentUse is for the race detector: timers set, reset and
// stopped from many goroutines while another advances the clock.
func TestClockConcurrentUse(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				clk.Advance(time.Millisecond)
			}
		}
	})
	var users sync.WaitGroup
	for range 8 {
		users.Go(func() {
			for range 100 {
				tm := clk.NewTimer(time.Millisecond)
				tm.Reset(2 * time.Millisecond)
				clk.AfterFunc(time.Millisecond, func() { _ = clk.Now() })
				tm.Stop()
			}
		})
	}
	users.Wait()
	close(stop)
	wg.Wait()
}
