package uvcache

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// cache writes entries of size bytes each, used at the given ages.
func cache(t *testing.T, entries map[string]time.Duration, size int) string {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	for path, age := range entries {
		full := filepath.Join(dir, path)
		if err := os.MkdirAll(full, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(full, "data"), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		at := now.Add(-age)
		if err := os.Chtimes(full, at, at); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func paths(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	slices.Sort(out)
	return out
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	dir := cache(t, map[string]time.Duration{"environments/a": time.Hour, "wheels-v5/pkg": time.Minute}, 64<<10)
	// A lock file in a bucket and one at the top count, but are no entries.
	for _, f := range []string{"environments/.a.lock", LockName} {
		if err := os.WriteFile(filepath.Join(dir, f), make([]byte, 8<<10), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A hard link (uv links wheels into environments) counts once.
	if err := os.Link(filepath.Join(dir, "wheels-v5/pkg/data"), filepath.Join(dir, "environments/a/linked")); err != nil {
		t.Fatal(err)
	}
	u, err := Measure(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := paths(u.Entries), []string{"environments/a", "wheels-v5/pkg"}; !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	// Two 64 KiB files, two 8 KiB ones and the folders' own blocks.
	if min, max := int64(2*64<<10+2*8<<10), int64(2*64<<10+2*8<<10+64<<10); u.Bytes < min || u.Bytes > max {
		t.Errorf("size %d, want between %d and %d (the link counted once)", u.Bytes, min, max)
	}
	if u, err := Measure(t.Context(), filepath.Join(dir, "missing")); err != nil || u.Bytes != 0 {
		t.Errorf("missing folder: %+v, %v; want an empty cache", u, err)
	}
}

func TestTrim(t *testing.T) {
	t.Parallel()
	const kib = 1 << 10
	entries := map[string]time.Duration{
		"environments/oldest": 72 * time.Hour,
		"wheels-v5/middle":    48 * time.Hour,
		"environments/newest": time.Minute,
	}
	tests := []struct {
		name        string
		max, target int64
		removed     []string
	}{
		{"under the limit", 10 << 20, 0, nil},
		{"one goes", 600 * kib, 600 * kib, []string{"environments/oldest"}},
		{"least recently used first", 400 * kib, 400 * kib, []string{"environments/oldest", "wheels-v5/middle"}},
		{"default target is nine tenths", 700 * kib, 0, []string{"environments/oldest"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := cache(t, entries, 256*kib)
			rep, err := Trim(t.Context(), dir, tc.max, tc.target, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(rep.Removed); !slices.Equal(got, tc.removed) {
				t.Errorf("removed %v, want %v (before %d)", got, tc.removed, rep.Before)
			}
			for _, e := range rep.Removed {
				if _, err := os.Stat(filepath.Join(dir, e.Path)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still there: %v", e.Path, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, trashName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the trash stayed: %v", err)
			}
			u, err := Measure(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.removed) > 0 && u.Bytes > rep.After+8*kib {
				t.Errorf("measured %d after the trim, the report says %d", u.Bytes, rep.After)
			}
		})
	}
}

// A uv process holding the lock shared keeps everything; a trash an
// interrupted pass left is emptied anyway, since nobody uses it.
func TestTrimInUse(t *testing.T) {
	t.Parallel()
	dir := cache(t, map[string]time.Duration{"environments/a": time.Hour, trashName + "/0-x": 0}, 64<<10)
	f, err := os.OpenFile(filepath.Join(dir, LockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	rep, err := Trim(t.Context(), dir, 1, 1, time.Now())
	if !errors.Is(err, ErrInUse) || len(rep.Removed) != 0 {
		t.Fatalf("removed %v, err %v; want ErrInUse", rep.Removed, err)
	}
	if rep.Before == 0 {
		t.Error("a busy cache's size was not reported")
	}
	if _, err := os.Stat(filepath.Join(dir, "environments/a")); err != nil {
		t.Errorf("entry removed while in use: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, trashName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old trash was not emptied: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if rep, err := Trim(t.Context(), dir, 1, 1, time.Now()); err != nil || len(rep.Removed) != 1 {
		t.Errorf("after the lock went: removed %v, err %v", rep.Removed, err)
	}
	if _, err := Trim(t.Context(), dir, 0, 0, time.Now()); err == nil {
		t.Error("a zero maximum was accepted")
	}
}
