package repo

import (
	"context"
	"fmt"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSwapIsAtomic switches PIPELINES_DIR between two commits while readers
// resolve it and walk the tree. Every file of commit X says "X", and each
// commit has a different set of files, so a reader that saw a mix of trees,
// a half-written tree or a dangling link would notice.
func TestSwapIsAtomic(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	tree := func(tag string, n int) map[string]string {
		files := map[string]string{}
		for i := range n {
			files[fmt.Sprintf("p%02d/main.py", i)] = tag
			files[fmt.Sprintf("p%02d/data/%s.txt", i, tag)] = tag
		}
		return files
	}
	a := remote.Commit("a", tree("a", 20))
	remote.Git("rm", "-q", "-r", ".")
	b := remote.Commit("b", tree("b", 30))
	want := map[string]struct {
		tag   string
		files int
	}{a: {"a", 40}, b: {"b", 60}}

	s, _ := newTestSyncer(t, remote.Dir)
	mustSync(t, s, OutcomeUpdated) // b is live

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		walks  atomic.Int64
		failed atomic.Bool
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := walkOnce(s.cfg.PipelinesDir, want); err != nil {
					if !failed.Swap(true) {
						t.Errorf("reader: %v", err)
					}
					return
				}
				walks.Add(1)
			}
		}()
	}
	swaps := 0
	for swaps < 12 && !failed.Load() {
		target := a
		if swaps%2 == 1 {
			target = b
		}
		remote.ForcePush(target)
		mustSync(t, s, OutcomeUpdated)
		swaps++
	}
	cancel()
	wg.Wait()
	if swaps < 4 || walks.Load() < 10 {
		t.Fatalf("only %d swaps and %d walks; the test proved nothing", swaps, walks.Load())
	}
	t.Logf("%d swaps, %d complete walks", swaps, walks.Load())
}

// walkOnce resolves the link once, as the operator does when a run starts,
// and checks the tree behind it is exactly one commit's.
func walkOnce(link string, want map[string]struct {
	tag   string
	files int
}) error {
	dir, err := filepath.EvalSymlinks(link)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", link, err)
	}
	exp, ok := want[filepath.Base(dir)]
	if !ok {
		return fmt.Errorf("%s points at unknown %s", link, dir)
	}
	files := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if p == filepath.Join(dir, completeMarker) {
			// Fast-Flow's own file, not part of the commit's tree.
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != exp.tag {
			return fmt.Errorf("%s says %q in a tree of commit %q", p, got, exp.tag)
		}
		files++
		return nil
	})
	if err != nil {
		return err
	}
	if files != exp.files {
		return fmt.Errorf("tree of %q has %d files, want %d", exp.tag, files, exp.files)
	}
	return nil
}
