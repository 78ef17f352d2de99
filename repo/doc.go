// Package repo is the pipelines repository as Fast-Flow sees it.
//
// It fetches the configured Git branch with go-git, writes each commit's tree
// to its own directory DATA_DIR/revisions/<sha>, discovers and validates the
// pipelines in it, and publishes it by atomically swapping the PIPELINES_DIR
// symlink. A reader that resolves PIPELINES_DIR once sees one commit's
// complete tree, never a mix of two. Old revisions are garbage-collected once
// no run references them.
//
// A revision folder is reused (a rollback, a restart, a re-attached run) only
// when it is known complete: its completion marker, written last, names its
// commit and the number of entries it holds. Deletion renames a folder to
// trash before removing it, and Load tidies what a crash left at start; see
// revision.go for the rules, including how folders written before the marker
// existed are adopted.
//
// Discovery (Discover) works on any directory and needs no Git, database or
// network: `fastflow validate` uses it directly on a working copy.
package repo
