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

// GC removes revisions that are neither live, nor among the KeepRevisions
// most recently published, nor listed in inUse (the revisions of runs that
// are queued or running: their containers mount those directories). It also
// removes temporary and trash folders that an interrupted sync or deletion
// left behind. It returns the revisions it removed.
//
// Each revision is moved out of the way before it is deleted (see discard),
// so a GC killed mid-delete leaves trash, never a partial folder that a
// later sync of the same commit could take for a complete one.
func (s *Syncer) GC(ctx context.Context, inUse []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.lockPath)
	if err != nil {
		return nil, err
	}
	defer unlock()

	entries, err := os.ReadDir(s.revDir)
	if err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	keep := map[string]bool{}
	for _, r := range inUse {
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
			// Syncs and deletions hold the lock we hold, so none is using
			// this one.
			if err := os.RemoveAll(filepath.Join(s.revDir, name)); err != nil {
				errs = append(errs, err)
			}
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
	var removed []string
	for i, r := range revs {
		if i < s.cfg.KeepRevisions || keep[r.sha] {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := s.discard(filepath.Join(s.revDir, r.sha)); err != nil {
			errs = append(errs, fmt.Errorf("remove revision %s: %w", r.sha, err))
			continue
		}
		removed = append(removed, r.sha)
	}
	return removed, errors.Join(errs...)
}
