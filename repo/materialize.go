package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// checkout is what materialize writes for one commit: the files it keeps,
// in tree order, and the entries it refuses, as problems.
type checkout struct {
	files    []*object.File
	links    map[string]string // symlink targets of files, by slash path
	problems []Problem
}

// planCheckout decides, without writing anything, which entries of commit's
// tree a checkout writes. Regular files keep their executable bit, symlinks
// are kept only when they resolve inside the tree, submodules and anything
// that is not a plain local path are skipped, and the name of the completion
// marker is refused at the root. materialize writes exactly this plan and
// verifyRevision checks a folder against it, so the two cannot disagree.
func planCheckout(commit *object.Commit) (*checkout, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", commit.Hash, err)
	}

	// First pass: collect the symlinks, so each one can be resolved against
	// the whole tree before any is kept.
	links := map[string]string{}
	var all []*object.File
	var problems []Problem
	iter := tree.Files()
	defer iter.Close()
	err = iter.ForEach(func(f *object.File) error {
		if !safeTreePath(f.Name) {
			problems = append(problems, Problem{Path: f.Name, Message: "path is not a plain relative path inside the repository; not checked out"})
			return nil
		}
		if f.Name == completeMarker {
			// Written, it would be overwritten by (or pass for) the marker
			// that says the revision is complete.
			problems = append(problems, Problem{Path: f.Name, Message: "name is reserved by Fast-Flow for its completion marker; not checked out"})
			return nil
		}
		if f.Mode == filemode.Symlink {
			target, err := f.Contents()
			if err != nil {
				return fmt.Errorf("read symlink %s: %w", f.Name, err)
			}
			links[f.Name] = target
		}
		all = append(all, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	readLink := func(rel string) (string, bool) {
		t, ok := links[rel]
		return t, ok
	}

	co := &checkout{links: links}
	for _, f := range all {
		switch f.Mode {
		case filemode.Symlink:
			if target := links[f.Name]; symlinkEscapes(f.Name, target, readLink) {
				problems = append(problems, Problem{
					Path:    f.Name,
					Message: fmt.Sprintf("symlink points outside the repository (%s); not checked out", target),
				})
				continue
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
		default:
			continue
		}
		co.files = append(co.files, f)
	}
	co.problems = problems
	return co, nil
}

// materialize writes the tree of commit into dir, which must not exist yet,
// as planCheckout decides, and returns how many entries (files, symlinks,
// directories) it created below dir, for the completion marker. Everything
// that was refused comes back as a problem; an error means dir could not be
// written at all.
func materialize(ctx context.Context, commit *object.Commit, dir string) ([]Problem, int, error) {
	co, err := planCheckout(commit)
	if err != nil {
		return nil, 0, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("create revision directory: %w", err)
	}
	made := map[string]bool{".": true}
	for i, f := range co.files {
		// A cancelled sync stops between files; the caller removes dir.
		if i%64 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		parent := path.Dir(f.Name)
		if !made[parent] {
			if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(parent)), 0o755); err != nil {
				return nil, 0, fmt.Errorf("create directory %s: %w", parent, err)
			}
			for p := parent; p != "." && !made[p]; p = path.Dir(p) {
				made[p] = true
			}
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if f.Mode == filemode.Symlink {
			if err := os.Symlink(co.links[f.Name], dst); err != nil {
				return nil, 0, fmt.Errorf("write symlink %s: %w", f.Name, err)
			}
			continue
		}
		perm := os.FileMode(0o644)
		if f.Mode == filemode.Executable {
			perm = 0o755
		}
		if err := writeBlob(f, dst, perm); err != nil {
			return nil, 0, err
		}
	}
	// made holds every directory created below dir, and "." for dir itself.
	return co.problems, len(co.files) + len(made) - 1, nil
}

func writeBlob(f *object.File, dst string, perm os.FileMode) (err error) {
	r, err := f.Reader()
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Name, err)
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write %s: %w", f.Name, cerr)
		}
	}()
	if _, err := io.Copy(out, r); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	return nil
}

// safeTreePath refuses names a crafted tree can carry but a checkout must
// never write: absolute paths, `..` components, and `.git` anywhere (which
// would let a commit plant hooks or config).
func safeTreePath(name string) bool {
	if name == "" || !filepath.IsLocal(filepath.FromSlash(name)) {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" || c == "." || c == ".." || strings.EqualFold(c, ".git") {
			return false
		}
	}
	return true
}

// errNotSymlink is returned when PIPELINES_DIR exists but is not a symlink we
// could safely replace.
var errNotSymlink = errors.New("repo: pipelines dir exists and is not a symlink")
