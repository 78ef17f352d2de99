package repo

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/repo/gittest"
)

// TestJanitorCollect pins what the janitor's collection finds: revisions
// beyond the newest three that no run uses, and leftover temporary and
// trash folders; a dry run finds the same and removes nothing.
func TestJanitorCollect(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	s, data := newTestSyncer(t, remote.Dir)
	var shas []string
	for i := range 6 {
		shas = append(shas, remote.Commit("c", map[string]string{"hello/main.py": helloMain, "hello/n.txt": string(rune('a' + i))}))
		mustSync(t, s, OutcomeUpdated)
	}
	revDir := filepath.Join(data, "revisions")
	for _, name := range []string{".tmp-abandoned", ".trash-0123abcd-xyz"} {
		if err := os.Mkdir(filepath.Join(revDir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	listing := func() []string {
		entries, err := os.ReadDir(revDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		return names
	}
	before := listing()
	want := Collected{Revisions: []string{shas[1], shas[2]}, TempDirs: []string{".tmp-abandoned", ".trash-0123abcd-xyz"}}
	sorted := func(c Collected) Collected {
		slices.Sort(c.Revisions)
		slices.Sort(c.TempDirs)
		return c
	}
	slices.Sort(want.Revisions)

	dry, err := s.Collect(context.Background(), GCOptions{InUse: []string{shas[0]}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, sorted(dry)); diff != "" {
		t.Errorf("dry run found (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, listing()); diff != "" {
		t.Errorf("dry run changed revisions/ (-before +after):\n%s", diff)
	}

	got, err := s.Collect(context.Background(), GCOptions{InUse: []string{shas[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, sorted(got)); diff != "" {
		t.Errorf("collection removed (-want +got):\n%s", diff)
	}
	wantLeft := []string{shas[0], shas[3], shas[4], shas[5]}
	slices.Sort(wantLeft)
	if diff := cmp.Diff(wantLeft, listing()); diff != "" {
		t.Errorf("revisions left (-want +got): in use, then the three newest\n%s", diff)
	}
}
