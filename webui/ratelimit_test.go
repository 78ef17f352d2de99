package webui

import (
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestFailureLimiter(t *testing.T) {
	t.Parallel()
	// Burst 10 per 5 minutes: one token back every 30 s.
	const burst, window = 10, 5 * time.Minute
	type step struct {
		advance   time.Duration
		fail      int  // failures to record for "k"
		reset     bool // forget "k"
		wantAllow bool
		wantWait  time.Duration // when refused
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "an unknown key may try", steps: []step{{wantAllow: true}}},
		{name: "burst minus one failures still allow", steps: []step{{fail: burst - 1, wantAllow: true}}},
		{name: "burst failures refuse for one refill period", steps: []step{{fail: burst, wantWait: window / burst}}},
		{name: "a token comes back after a refill period", steps: []step{
			{fail: burst, wantWait: window / burst},
			{advance: window / burst / 2, wantWait: window / burst / 2},
			{advance: window / burst / 2, wantAllow: true},
			{fail: 1, wantWait: window / burst},
		}},
		{name: "more failures while refused do not dig deeper", steps: []step{
			{fail: 3 * burst, wantWait: window / burst},
		}},
		{name: "a full window restores the whole burst", steps: []step{
			{fail: burst, wantWait: window / burst},
			{advance: window, fail: burst - 1, wantAllow: true},
		}},
		{name: "reset forgets the failures", steps: []step{
			{fail: burst, wantWait: window / burst},
			{reset: true, wantAllow: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			l := newFailureLimiter(burst, window, 100, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				for range s.fail {
					l.Fail("k")
				}
				if s.reset {
					l.Reset("k")
				}
				ok, wait := l.Allow("k")
				if ok != s.wantAllow {
					t.Fatalf("step %d: allow = %v, want %v", i, ok, s.wantAllow)
				}
				if !ok && (wait < s.wantWait-time.Millisecond || wait > s.wantWait+time.Millisecond) {
					t.Fatalf("step %d: retry after %v, want %v", i, wait, s.wantWait)
				}
				if other, _ := l.Allow("other"); !other {
					t.Fatalf("step %d: another key is limited too", i)
				}
			}
		})
	}
}

func TestFailureLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const maxKeys = 50
	l := newFailureLimiter(10, time.Minute, maxKeys, clock.Now)

	// A spray of addresses never holds more than maxKeys.
	for i := range 10 * maxKeys {
		clock.Advance(time.Millisecond)
		l.Fail("spray-" + strconv.Itoa(i))
		if n := l.Len(); n > maxKeys {
			t.Fatalf("after %d keys the limiter holds %d, want at most %d", i+1, n, maxKeys)
		}
	}
	// The newest keys survive eviction: the oldest go first.
	if ok, _ := l.Allow("spray-0"); !ok {
		t.Errorf("the oldest key is still limited after eviction")
	}
	for range 10 {
		l.Fail("recent")
	}
	if ok, _ := l.Allow("recent"); ok {
		t.Errorf("a key that just failed 10 times was evicted")
	}

	// Once every bucket has refilled, the next failure sweeps them away.
	clock.Advance(2 * time.Minute)
	l.Fail("late")
	if n := l.Len(); n != 1 {
		t.Errorf("after a quiet window the limiter holds %d keys, want 1", n)
	}
}

func TestFailureLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l := newFailureLimiter(10, time.Minute, 1000, time.Now)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				key := strconv.Itoa((i * j) % 300)
				l.Fail(key)
				l.Allow(key)
				if j%50 == 0 {
					l.Reset(key)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 1000 {
		t.Errorf("holds %d keys", n)
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, remote, want string
	}{
		{name: "IPv4 drops the port", remote: "192.0.2.1:51234", want: "192.0.2.1"},
		{name: "IPv6 is cut to its /64", remote: "[2001:db8:1:2:aaaa::1]:443", want: "2001:db8:1:2::/64"},
		{name: "another address in the same /64 is the same client", remote: "[2001:db8:1:2:ffff::9]:443", want: "2001:db8:1:2::/64"},
		{name: "IPv4-mapped IPv6 is the IPv4 address", remote: "[::ffff:192.0.2.1]:80", want: "192.0.2.1"},
		{name: "zones are dropped", remote: "[fe80::1%eth0]:80", want: "fe80::/64"},
		{name: "no port is kept as it is", remote: "192.0.2.7", want: "192.0.2.7"},
		{name: "a unix socket peer is one client", remote: "@", want: "@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if got := clientKey(r); got != tt.want {
				t.Errorf("clientKey(%q) = %q, want %q", tt.remote, got, tt.want)
			}
		})
	}
}
