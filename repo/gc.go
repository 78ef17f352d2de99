package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// GCOptions say what one collection keeps and whether it removes.
type GCOptions struct {
	// InUse are the revisions of runs that are queued or running: their
	// containers mount those directories.
	InUse []string
	// DryRun finds what would go and removes nothing.
	DryRun bool
}

// Collected is what one collection removed, or would remove in a dry run.
type Collected struct {
	// Revisions are the commit SHAs of the revision folders.
	Revisions []string
	// TempDirs are the names of the temporary and trash folders that
	// interrupted syncs and deletions left in revisions/.
	TempDirs []string
}

// GC is Collect without a dry run, returning the revisions it removed.
func (s *Syncer) GC(ctx context.Context, inUse []string) ([]string, error) {
	c, err := s.Collect(ctx, GCOptions{InUse: inUse})
	return c.Revisions, err
}

// Collect removes revisions that are neither live, nor among the
// KeepRevisions most recently published, nor in opts.InUse. It also
// removes the temporary and trash folders that an interrupted sync or
// deletion left behind: it holds the sync lock, so no sync of any process
// is writing one.
//
// Each revision is moved out of the way before it is deleted (see discard),
// so a collection killed mid-delete leaves trash, never a partial folder
// that a later sync of the same commit could take for a complete one.
func (s *Syncer) Collect(ctx context.Context, opts GCOptions) (Collected, error) {
	var out Collected
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.lockPath)
	if err != nil {
		return out, err
	}
	defer unlock()

	entries, err := os.ReadDir(s.revDir)
	if err != nil {
		return out, fmt.Errorf("list revisions: %w", err)
	}
	keep := map[string]bool{}
	for _, r := range opts.InUse {
		keep[r] = true
	}
	if s.live != nil {
		keep[s.live.Revision] = true
	}
	type rev struct {
		sha string
		mod time.Time
	}
	var revs []rev
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) || strings.HasPrefix(name, trashPrefix) {
			if !opts.DryRun {
				if err := os.RemoveAll(filepath.Join(s.revDir, name)); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			out.TempDirs = append(out.TempDirs, name)
			continue
		}
		if !e.IsDir() || !plumbing.IsHash(name) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		revs = append(revs, rev{name, info.ModTime()})
	}
	slices.SortFunc(revs, func(a, b rev) int { return b.mod.Compare(a.mod) })
	for i, r := range revs {
		if i < s.cfg.KeepRevisions || keep[r.sha] {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if !opts.DryRun {
			if err := s.discard(filepath.Join(s.revDir, r.sha)); err != nil {
				errs = append(errs, fmt.Errorf("remove revision %s: %w", r.sha, err))
				continue
			}
		}
		out.Revisions = append(out.Revisions, r.sha)
	}
	return out, errors.Join(errs...)
}
