package repo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sys/unix"
)

// A folder revisions/<sha> is trusted only when it is known complete: a
// process killed while one was being deleted once left a partial copy under
// its real name, and a rollback to that commit published it as if it were
// whole. The rules that keep that from happening:
//
//   - A revision is written under a temporary name (.tmp-*), flushed to disk,
//     given its completion marker (written last, flushed too) and only then
//     renamed to revisions/<sha>. So the marker exists only in a tree that
//     was complete when it was written.
//   - Every reuse (Sync of a commit whose folder exists, Load of the
//     published revision, Revision for runs) reads the marker first and
//     requires it to name the folder's commit and the number of entries the
//     folder still holds.
//   - A folder under a real name without a valid marker is checked against
//     the commit's tree (verifyRevision): folders that Fast-Flow wrote before
//     the marker existed carry none, and runs started before an upgrade may
//     still mount them. If every entry a checkout writes is there, with its
//     type, size and link target, the folder is complete and gets its marker;
//     otherwise it is moved out of the way and written anew.
//   - Deletion (GC, discarding a broken folder) first renames the folder to
//     .trash-*, atomically, then removes it: a crash mid-delete leaves trash,
//     never a partial folder under a commit's name.
//   - Load, once at start, removes trash and temporary folders and settles
//     every folder without a valid marker as above (folders whose commit is
//     not in the bare repository cannot be checked; they are never reused
//     and are left to GC).
const (
	// completeMarker sits at the root of a revision. Discovery skips hidden
	// entries, so it is never taken for a pipeline; a run sees it as one
	// hidden file at /app, next to (never inside) its pipeline's folder.
	completeMarker = ".fastflow-complete"
	tmpPrefix      = ".tmp-"
	trashPrefix    = ".trash-"
)

// completion is the content of the marker. Entries is how many files,
// symlinks and directories the tree held when the marker was written: reuse
// counts them again, so a folder that something other than Fast-Flow's own
// deletion (an older version, an interrupted rm -rf) emptied in place with
// the marker still there is not taken for complete either. Problems are the
// entries the checkout refused, which the folder no longer shows: a reused
// revision reports them as the freshly written one did.
type completion struct {
	Revision string    `json:"revision"`
	Entries  int       `json:"entries"`
	Problems []Problem `json:"problems"`
}

// errIncomplete means a revision folder exists but is not known complete.
var errIncomplete = errors.New("repo: revision folder is not known complete")

// readCompletion returns the marker of the revision folder dir, which must
// name sha and match the number of entries dir holds. It wraps
// os.ErrNotExist when dir itself is absent and errIncomplete when the marker
// is missing, unreadable, names another commit or the count differs.
func readCompletion(dir, sha string) (*completion, error) {
	b, err := os.ReadFile(filepath.Join(dir, completeMarker))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Lstat(dir); errors.Is(serr, os.ErrNotExist) {
			return nil, serr
		}
		// Not wrapped: the folder exists, and must not pass for absent.
		return nil, fmt.Errorf("%w: %s has no completion marker", errIncomplete, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errIncomplete, dir, err)
	}
	var c completion
	if err := json.Unmarshal(b, &c); err != nil || c.Revision != sha {
		return nil, fmt.Errorf("%w: %s: marker does not name commit %s", errIncomplete, dir, sha)
	}
	n, err := countEntries(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIncomplete, err)
	}
	if n != c.Entries {
		return nil, fmt.Errorf("%w: %s holds %d of the %d entries it was written with", errIncomplete, dir, n, c.Entries)
	}
	return &c, nil
}

// countEntries counts what is below dir, the marker left out.
func countEntries(dir string) (int, error) {
	n := 0
	marker := filepath.Join(dir, completeMarker)
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && p != marker {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count entries of %s: %w", dir, err)
	}
	return n, nil
}

// writeCompletion writes the marker of a tree of entries entries into dir
// and flushes it and dir, so that the marker is on disk before the rename
// that follows can be.
func writeCompletion(dir, sha string, entries int, problems []Problem) error {
	if problems == nil {
		problems = []Problem{}
	}
	b, err := json.Marshal(completion{Revision: sha, Entries: entries, Problems: problems})
	if err != nil {
		return fmt.Errorf("encode completion marker: %w", err)
	}
	p := filepath.Join(dir, completeMarker)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write completion marker: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write completion marker %s: %w", p, err)
	}
	return syncDir(dir)
}

// verifyRevision reports whether dir holds every entry the checkout of
// commit writes: regular files with their size, symlinks with their target.
// Deletion removes whole entries and a lost write leaves a short file, so
// this tells a complete folder from a partial one without reading contents.
// It returns the refused entries as problems, for the marker.
func verifyRevision(ctx context.Context, commit *object.Commit, dir string) ([]Problem, bool, error) {
	co, err := planCheckout(commit)
	if err != nil {
		return nil, false, err
	}
	for i, f := range co.files {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		info, err := os.Lstat(p)
		if err != nil {
			return nil, false, nil
		}
		if f.Mode == filemode.Symlink {
			target, err := os.Readlink(p)
			if err != nil || target != co.links[f.Name] {
				return nil, false, nil
			}
			continue
		}
		if !info.Mode().IsRegular() || info.Size() != f.Size {
			return nil, false, nil
		}
	}
	return co.problems, true, nil
}

// adopt marks a folder that verifyRevision found complete.
func adopt(dir, sha string, problems []Problem) error {
	n, err := countEntries(dir)
	if err != nil {
		return err
	}
	return writeCompletion(dir, sha, n, problems)
}

// ensureRevision makes revisions/<sha> of commit complete and returns the
// problems of its checkout: it reuses a folder with a valid marker, adopts
// a folder that verifies against the tree, and writes the revision anew
// otherwise, moving a partial folder out of the way first. The caller holds
// s.mu and the sync lock.
func (s *Syncer) ensureRevision(ctx context.Context, commit *object.Commit) (string, []Problem, error) {
	sha := commit.Hash.String()
	dir := filepath.Join(s.revDir, sha)
	c, err := readCompletion(dir, sha)
	switch {
	case err == nil:
		return dir, c.Problems, nil
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, errIncomplete):
		problems, ok, verr := verifyRevision(ctx, commit, dir)
		if verr != nil {
			return "", nil, fmt.Errorf("verify revision %s: %w", ShortSHA(sha), verr)
		}
		if ok {
			// Complete, written before the marker existed: adopt it in
			// place, since a run may still mount it.
			if err := adopt(dir, sha, problems); err != nil {
				return "", nil, err
			}
			s.log.Info("adopted revision folder without completion marker after verifying it", "revision", ShortSHA(sha))
			return dir, problems, nil
		}
		s.log.Warn("revision folder is incomplete; writing it anew", "revision", ShortSHA(sha))
		if err := s.discard(dir); err != nil {
			return "", nil, err
		}
	default:
		return "", nil, err
	}
	problems, err := s.writeRevision(ctx, commit, dir)
	if err != nil {
		return "", nil, err
	}
	return dir, problems, nil
}

// discard deletes a revision folder without ever leaving part of it under
// its own name: it is renamed to trash first (atomic on one filesystem, and
// revisions/ is one folder), the rename is flushed, and only then is the
// trash removed. If the removal is cut short, only trash is left, which GC
// and Load remove. The caller holds the sync lock.
func (s *Syncer) discard(dir string) error {
	trash := filepath.Join(s.revDir, trashPrefix+ShortSHA(filepath.Base(dir))+"-"+rand.Text()[:10])
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("move %s out of the way: %w", filepath.Base(dir), err)
	}
	if err := syncDir(s.revDir); err != nil {
		return err
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove %s: %w", filepath.Base(trash), err)
	}
	return nil
}

// tidy removes what interrupted syncs and deletions left in revisions/
// (temporary and trash folders) and settles every revision folder without a
// valid marker: adopted if it verifies against its commit, discarded if it
// does not. A folder whose commit is not in the bare repository cannot be
// checked, nor can it be reused (every reuse reads the commit), so it is
// left for GC. The caller holds s.mu and the sync lock, so no sync of any
// process is writing a temporary folder.
func (s *Syncer) tidy(ctx context.Context) error {
	entries, err := os.ReadDir(s.revDir)
	if err != nil {
		return fmt.Errorf("list revisions: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) || strings.HasPrefix(name, trashPrefix) {
			if err := os.RemoveAll(filepath.Join(s.revDir, name)); err != nil {
				errs = append(errs, fmt.Errorf("remove leftover %s: %w", name, err))
			}
			continue
		}
		if !e.IsDir() || !plumbing.IsHash(name) {
			continue
		}
		dir := filepath.Join(s.revDir, name)
		if _, err := readCompletion(dir, name); !errors.Is(err, errIncomplete) {
			continue
		}
		commit, err := s.commit(name)
		if err != nil {
			s.log.Warn("revision folder without completion marker and without its commit; leaving it for GC", "revision", ShortSHA(name), "err", err)
			continue
		}
		problems, ok, err := verifyRevision(ctx, commit, dir)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("verify revision %s: %w", ShortSHA(name), err))
		case ok:
			if err := adopt(dir, name, problems); err != nil {
				errs = append(errs, err)
			}
		default:
			s.log.Warn("removing incomplete revision folder", "revision", ShortSHA(name))
			if err := s.discard(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// syncDir flushes a directory, making the entries created, renamed or
// removed in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flush %s: %w", dir, err)
	}
	return nil
}

// syncFilesystem flushes every written file of the filesystem holding dir
// with one syncfs(2): a fresh revision is thousands of files, and one call
// costs far less than an fsync each. It is what lets the marker, written
// after it, promise that the tree is on disk.
func syncFilesystem(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
