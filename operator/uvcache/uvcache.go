// Package uvcache keeps uv's cache folder under a size limit
// (UV_CACHE_MAX_SIZE).
//
// It relies on the contract the real uv keeps and the worker image's
// stand-in implements too: every uv process that reads the cache holds a
// shared flock on <cache>/.lock for as long as it lives (uv run waits for
// its child, and the stand-in hands the lock to the program it execs), and
// whoever cleans the cache (uv cache prune, uv cache clean) takes it
// exclusively. Trim takes it exclusively without waiting, so it never
// removes anything while a run or a warm-up uses the cache: a busy cache is
// reported and trimmed on a later pass. Under the lock it only renames the
// entries it evicts into a trash folder, which is quick, so a run that
// starts meanwhile waits for milliseconds; the deleting happens after the
// lock is released.
//
// An entry is one child of a top-level folder of the cache: a cached
// environment, an unpacked wheel, a built source distribution. Entries go
// least recently used first, by their modification time, which the
// stand-in refreshes on each use.
package uvcache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockName is the cache-wide lock file uv shares among its processes.
const LockName = ".lock"

// trashName is where Trim moves evicted entries before deleting them; a
// pass that was killed mid-delete leaves it, and the next pass empties it.
const trashName = ".fastflow-trash"

// ErrInUse is returned by Trim when a run or a warm-up holds the cache.
var ErrInUse = errors.New("uvcache: the cache is in use by a run or warm-up")

// Entry is one evictable part of the cache.
type Entry struct {
	// Path is relative to the cache folder: "<bucket>/<name>".
	Path     string
	Bytes    int64
	LastUsed time.Time
}

// Usage is what Measure found.
type Usage struct {
	// Bytes is the disk space of the whole folder (allocated blocks, each
	// hard-linked file once), entries and everything else.
	Bytes   int64
	Entries []Entry
}

// Measure walks dir. A missing dir is an empty cache. Files that vanish
// during the walk (a run finishing its install) are skipped.
func Measure(ctx context.Context, dir string) (Usage, error) {
	var u Usage
	top, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("uvcache: read %s: %w", dir, err)
	}
	seen := map[inode]bool{}
	for _, b := range top {
		bucket := filepath.Join(dir, b.Name())
		if !b.IsDir() || b.Name() == trashName {
			n, err := du(ctx, bucket, seen)
			if err != nil {
				return u, err
			}
			u.Bytes += n
			continue
		}
		children, err := os.ReadDir(bucket)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return u, fmt.Errorf("uvcache: read %s: %w", bucket, err)
		}
		for _, c := range children {
			path := filepath.Join(bucket, c.Name())
			n, err := du(ctx, path, seen)
			if err != nil {
				return u, err
			}
			u.Bytes += n
			if !c.IsDir() {
				continue // a lock file or marker of the bucket
			}
			info, err := c.Info()
			if err != nil {
				continue // gone meanwhile
			}
			u.Entries = append(u.Entries, Entry{Path: filepath.Join(b.Name(), c.Name()), Bytes: n, LastUsed: info.ModTime().UTC()})
		}
	}
	return u, nil
}

type inode struct{ dev, ino uint64 }

// du is the disk space under path, like du(1): allocated blocks, each
// inode once.
func du(ctx context.Context, path string, seen map[inode]bool) (int64, error) {
	var total int64
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			total += info.Size()
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += st.Blocks * 512
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("uvcache: measure %s: %w", path, err)
	}
	return total, nil
}

// Report is what one Trim did.
type Report struct {
	At time.Time
	// Before and After are the folder's size around the pass (After is
	// Before less what was evicted).
	Before, After int64
	// Removed are the evicted entries, least recently used first.
	Removed      []Entry
	RemovedBytes int64
}

// Trim evicts the least recently used entries of dir until it is at most
// target bytes, if it is above max. It returns ErrInUse, removing nothing,
// when a uv process holds the cache; the measured size is in the report
// either way. target <= 0 means nine tenths of max, so a cache that just
// crossed the limit is not trimmed again on the next run.
func Trim(ctx context.Context, dir string, max, target int64, now time.Time) (Report, error) {
	rep := Report{At: now}
	if max <= 0 {
		return rep, errors.New("uvcache: a positive maximum size is required")
	}
	if target <= 0 || target > max {
		target = max / 10 * 9
	}
	trash := filepath.Join(dir, trashName)
	// Nobody uses the trash: what an earlier pass left goes first.
	if err := os.RemoveAll(trash); err != nil {
		return rep, fmt.Errorf("uvcache: empty %s: %w", trash, err)
	}
	u, err := Measure(ctx, dir)
	rep.Before, rep.After = u.Bytes, u.Bytes
	if err != nil || u.Bytes <= max {
		return rep, err
	}

	unlock, err := lockExclusive(filepath.Join(dir, LockName))
	if err != nil {
		return rep, err
	}
	slices.SortStableFunc(u.Entries, func(a, b Entry) int { return a.LastUsed.Compare(b.LastUsed) })
	if err := os.MkdirAll(trash, 0o755); err != nil {
		unlock()
		return rep, fmt.Errorf("uvcache: %w", err)
	}
	var errs []error
	for i, e := range u.Entries {
		if rep.After <= target || ctx.Err() != nil {
			break
		}
		to := filepath.Join(trash, strconv.Itoa(i)+"-"+strings.ReplaceAll(e.Path, string(filepath.Separator), "-"))
		if err := os.Rename(filepath.Join(dir, e.Path), to); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("uvcache: evict %s: %w", e.Path, err))
			}
			continue
		}
		rep.Removed = append(rep.Removed, e)
		rep.RemovedBytes += e.Bytes
		rep.After -= e.Bytes
	}
	unlock()
	if err := os.RemoveAll(trash); err != nil {
		errs = append(errs, fmt.Errorf("uvcache: delete evicted entries: %w", err))
	}
	return rep, errors.Join(errs...)
}

// lockExclusive takes path's flock exclusively, without waiting: ErrInUse
// when a uv process holds it.
func lockExclusive(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("uvcache: open the cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, fmt.Errorf("uvcache: take the cache lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
