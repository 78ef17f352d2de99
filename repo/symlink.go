package repo

import (
	"path"
	"strings"
)

// maxSymlinkHops bounds link chains the way the kernel's ELOOP does, so a
// cycle is reported instead of looping.
const maxSymlinkHops = 40

// linkReader reports whether the slash path rel (relative to the root) is a
// symlink and, if so, its target. A path that does not exist is not a link.
type linkReader func(rel string) (target string, isLink bool)

// symlinkEscapes reports whether following the symlink at rel with the given
// target would leave the root. It resolves every link on the way through
// readLink instead of cleaning the path lexically: with `d -> .`, the target
// `d/../x` looks local but resolves to the root's parent.
//
// A target that stays inside but does not exist is not an escape: a dangling
// link inside a read-only revision can never be made to point elsewhere.
func symlinkEscapes(rel, target string, readLink linkReader) bool {
	if path.IsAbs(target) {
		return true
	}
	// cur holds the components of the directory resolved so far, from the root.
	cur := splitPath(path.Dir(rel))
	pending := splitPath(target)
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(cur) == 0 {
				return true
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := path.Join(append(append([]string{}, cur...), c)...)
		t, isLink := readLink(next)
		if !isLink {
			cur = append(cur, c)
			continue
		}
		hops++
		if hops > maxSymlinkHops || path.IsAbs(t) {
			return true
		}
		// The link's target is relative to the directory holding the link,
		// which is cur; whatever was left of the path follows it.
		pending = append(splitPath(t), pending...)
	}
	return false
}

func splitPath(p string) []string {
	if p == "" || p == "." {
		return nil
	}
	return strings.Split(p, "/")
}
