package webui

import (
	"net/http"
	"sync"
	"time"
)

// failureLimiter slows down password guessing: a token bucket per key (a
// client address or a username) that each failed login drains by one and
// that refills at burst tokens per window. A key with an empty bucket is
// refused until a token is back, so a guesser gets burst tries at once and
// then one every window/burst.
//
// A bucket is a few words, and a bucket that has refilled completely says
// nothing a fresh one would not, so it is dropped: the map holds only keys
// that failed recently and is swept once per window. maxKeys bounds it
// against an attacker who sprays addresses or usernames; past it the oldest
// entry is evicted, which at worst gives that key a fresh bucket.
//
// It is safe for concurrent use.
type failureLimiter struct {
	burst   float64
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[string]*failureBucket
	lastSweep time.Time
}

// failureBucket is the state of one key at time last.
type failureBucket struct {
	tokens float64
	last   time.Time
}

func newFailureLimiter(burst int, window time.Duration, maxKeys int, now func() time.Time) *failureLimiter {
	return &failureLimiter{
		burst:   float64(burst),
		window:  window,
		maxKeys: maxKeys,
		now:     now,
		buckets: make(map[string]*failureBucket),
	}
}

// refillRate is tokens per nanosecond.
func (l *failureLimiter) refillRate() float64 { return l.burst / float64(l.window) }

// level returns the tokens of b at now, capped at burst.
func (l *failureLimiter) level(b *failureBucket, now time.Time) float64 {
	return min(l.burst, b.tokens+float64(now.Sub(b.last))*l.refillRate())
}

// Allow reports whether key may try again, and if not how long until it
// may. It does not consume a token: only a failure does.
func (l *failureLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[key]
	if !found {
		return true, 0
	}
	tokens := l.level(b, l.now())
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / l.refillRate())
}

// Fail takes one token from key's bucket.
func (l *failureLimiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweepLocked(now)
	b, found := l.buckets[key]
	if !found {
		if len(l.buckets) >= l.maxKeys {
			l.evictOldestLocked()
		}
		b = &failureBucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = max(0, l.level(b, now)-1)
	b.last = now
}

// Reset forgets key, after it proved it knows the password.
func (l *failureLimiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// Len is the number of keys held.
func (l *failureLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sweepLocked drops full buckets, at most once per window so the cost is
// spread over many failures.
func (l *failureLimiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if l.level(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// evictOldestLocked drops the bucket that failed longest ago; it is the
// closest to full. O(n), but only at maxKeys, when an attack is under way.
func (l *failureLimiter) evictOldestLocked() {
	var (
		oldestKey string
		oldest    time.Time
		seen      bool
	)
	for k, b := range l.buckets {
		if !seen || b.last.Before(oldest) {
			oldestKey, oldest, seen = k, b.last, true
		}
	}
	delete(l.buckets, oldestKey)
}

// clientKey names the client a request comes from for rate limiting: its
// address, with IPv6 addresses cut to their /64, since one host usually
// holds a whole /64 and could otherwise try from every address in it. The
// address is the peer's, or behind a trusted proxy (TRUSTED_PROXIES) the
// one the proxy names (clientFrom); X-Forwarded-For from anyone else is
// ignored, as anyone can send it. Behind a proxy that is not trusted every
// client is the proxy; the per-username limit still holds.
func clientKey(r *http.Request) string {
	addr, ok := clientFrom(r)
	if !ok {
		// Not an IP (a unix socket peer): one client.
		return r.RemoteAddr
	}
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}
