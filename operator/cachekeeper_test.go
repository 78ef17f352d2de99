package operator

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator/uvcache"
	"github.com/fastflow-dev/fastflow/runtime/fake"
)

// uvCacheDir is a cache folder with n environments of 256 KiB, the first
// used longest ago.
func uvCacheDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		env := filepath.Join(dir, "environments", string(rune('a'+i)))
		if err := os.MkdirAll(env, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(env, "data"), make([]byte, 256<<10), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(time.Duration(i-n) * time.Hour)
		if err := os.Chtimes(env, at, at); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCacheKeeper: the loop measures at once, trims above the limit, waits
// while the cache is locked (Postponed), trims after a poke once it is
// free, but at most once per MinGap, and stops with its context.
func TestCacheKeeper(t *testing.T) {
	t.Parallel()
	dir := uvCacheDir(t, 4)
	u, err := uvcache.Measure(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := fake.NewClock(time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC))
	obs := &countingObserver{}
	// Room for three of the four, trimmed down to nine tenths of that:
	// the oldest goes.
	max := u.Bytes - 128<<10
	k := newCacheKeeper(UVCacheConfig{Dir: dir, MaxBytes: max, Interval: time.Hour, MinGap: time.Minute},
		clk, slog.New(slog.NewTextHandler(io.Discard, nil)), obs)

	// A run holds the cache as uv does: shared.
	lock, err := os.OpenFile(filepath.Join(dir, uvcache.LockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); k.run(ctx) }()
	clk.Advance(0)
	waitUntil(t, "the first measurement", func() bool { return !k.snapshot().MeasuredAt.IsZero() })
	st := k.snapshot()
	if st.Postponed.IsZero() || st.Bytes != u.Bytes || st.LastRemoved != 0 || st.MaxBytes != max {
		t.Fatalf("while in use: %+v; want postponed, %d bytes, nothing removed", st, u.Bytes)
	}

	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	// A poke within MinGap of the last pass waits for the gap.
	k.poke()
	time.Sleep(20 * time.Millisecond)
	if k.snapshot().LastRemoved != 0 {
		t.Fatal("a poke within MinGap trimmed at once")
	}
	clk.Advance(time.Minute)
	waitUntil(t, "the trim", func() bool { return k.snapshot().LastRemoved > 0 })
	st = k.snapshot()
	if st.LastRemoved != 1 || !st.Postponed.IsZero() || st.Bytes > max/10*9 || st.LastCleanup.IsZero() {
		t.Errorf("after the trim: %+v; want 1 evicted, under %d bytes", st, max/10*9)
	}
	if _, err := os.Stat(filepath.Join(dir, "environments", "a")); err == nil {
		t.Error("the least recently used environment was kept")
	}
	if _, err := os.Stat(filepath.Join(dir, "environments", "b")); err != nil {
		t.Errorf("the next one went too: %v", err)
	}
	if n := obs.count("uv_cache/entries"); n != 1 {
		t.Errorf("observer heard %d evictions, want 1", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not stop with its context")
	}
}

// Without a limit the keeper only measures.
func TestCacheKeeperMeasuresOnly(t *testing.T) {
	t.Parallel()
	dir := uvCacheDir(t, 2)
	k := newCacheKeeper(UVCacheConfig{Dir: dir}, fake.NewClock(time.Now()), slog.New(slog.DiscardHandler), nopObserver{})
	k.pass(t.Context())
	st := k.snapshot()
	if st.Bytes < 512<<10 || st.LastRemoved != 0 || st.Error != "" {
		t.Errorf("state %+v; want the size measured and nothing removed", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "environments", "a")); err != nil {
		t.Error(err)
	}
}
