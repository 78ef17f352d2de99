// Package repo is the pipelines repository as Fast-Flow sees it.
//
// It fetches the configured Git branch with go-git, writes each commit's tree
// to its own directory DATA_DIR/revisions/<sha>, discovers and validates the
// pipelines in it, and publishes it by atomically swapping the PIPELINES_DIR
// symlink. A reader that resolves PIPELINES_DIR once sees one commit's
// complete tree, never a mix of two. Old revisions are garbage-collected once
// no run references them.
//
// Discovery (Discover) works on any directory and needs no Git, database or
// network: `fastflow validate` uses it directly on a working copy.
package repo
