package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/repo/gittest"
)

// manyPipelines is a tree of n pipelines, each with a main.py and a
// pipeline.json, so that a partial copy is visible in the pipeline count.
func manyPipelines(n int) map[string]string {
	files := map[string]string{"README.md": "pipelines\n"}
	for i := range n {
		files[fmt.Sprintf("p%03d/main.py", i)] = fmt.Sprintf("print(%d)\n", i)
		files[fmt.Sprintf("p%03d/pipeline.json", i)] = `{"timeout": 60}`
	}
	return files
}

// treeFiles lists the files and symlinks below dir as slash paths, without
// Fast-Flow's marker.
func treeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != completeMarker {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// gitFiles lists the files of the remote's work tree, as treeFiles does.
func gitFiles(remote *gittest.Remote) []string {
	out := strings.Split(remote.Git("ls-files"), "\n")
	slices.Sort(out)
	return out
}

// assertMarked fails unless dir carries a marker naming sha.
func assertMarked(t *testing.T, dir, sha string) {
	t.Helper()
	if _, err := readCompletion(dir, sha); err != nil {
		t.Errorf("revision folder %s: %v", filepath.Base(dir), err)
	}
}

// breakFolder removes two pipelines and the marker of a published folder,
// as an older Fast-Flow killed mid-delete did; then mark (if not nil)
// writes a marker of its own.
func breakFolder(t *testing.T, dir string, mark func(p string, orig []byte) error) {
	t.Helper()
	orig, err := os.ReadFile(filepath.Join(dir, completeMarker))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{completeMarker, "p003", "p007"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	if mark != nil {
		if err := mark(filepath.Join(dir, completeMarker), orig); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSyncRebuildsIncompleteFolder(t *testing.T) {
	t.Parallel()
	otherSHA := strings.Repeat("ab", 20)
	tests := []struct {
		name string
		mark func(p string, orig []byte) error
	}{
		{name: "marker missing", mark: nil},
		// Emptied in place by something else than Fast-Flow's GC, which
		// happened to remove the marker last.
		{name: "marker kept", mark: func(p string, orig []byte) error { return os.WriteFile(p, orig, 0o644) }},
		{name: "marker names another commit", mark: func(p string, _ []byte) error {
			return os.WriteFile(p, []byte(`{"revision":"`+otherSHA+`","entries":30,"problems":[]}`), 0o644)
		}},
		{name: "marker garbled", mark: func(p string, _ []byte) error { return os.WriteFile(p, []byte("{"), 0o644) }},
		{name: "marker empty", mark: func(p string, _ []byte) error { return os.WriteFile(p, nil, 0o644) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			remote := gittest.New(t)
			first := remote.Commit("many", manyPipelines(10))
			want := gitFiles(remote)
			s, data := newTestSyncer(t, remote.Dir)
			mustSync(t, s, OutcomeUpdated)
			remote.Commit("more", map[string]string{"extra/main.py": helloMain})
			mustSync(t, s, OutcomeUpdated)

			dir := filepath.Join(data, "revisions", first)
			breakFolder(t, dir, tt.mark)
			remote.ForcePush(first)
			res := mustSync(t, s, OutcomeUpdated)
			if got := len(res.Snapshot.Pipelines); got != 10 {
				t.Errorf("rollback published %d pipelines, want 10", got)
			}
			if got := treeFiles(t, dir); !slices.Equal(got, want) {
				t.Errorf("rollback folder holds %d files, want the %d of the commit", len(got), len(want))
			}
			assertMarked(t, dir, first)
		})
	}
}

func TestSyncAdoptsCompleteFolderWithoutMarker(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	first := remote.Commit("many", manyPipelines(5))
	s, data := newTestSyncer(t, remote.Dir)
	mustSync(t, s, OutcomeUpdated)
	remote.Commit("more", map[string]string{"extra/main.py": helloMain})
	mustSync(t, s, OutcomeUpdated)

	// As Fast-Flow wrote folders before the marker existed. A run may mount
	// it, so a complete one must be kept in place, not replaced.
	dir := filepath.Join(data, "revisions", first)
	if err := os.Remove(filepath.Join(dir, completeMarker)); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(filepath.Join(dir, "p000", "main.py"))
	if err != nil {
		t.Fatal(err)
	}
	remote.ForcePush(first)
	res := mustSync(t, s, OutcomeUpdated)
	if got := len(res.Snapshot.Pipelines); got != 5 {
		t.Errorf("rollback published %d pipelines, want 5", got)
	}
	after, err := os.Stat(filepath.Join(dir, "p000", "main.py"))
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("a complete folder without marker was rewritten (%v); it should have been adopted in place", err)
	}
	assertMarked(t, dir, first)
}

func TestSyncRebuildsFolderWithShortFile(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	first := remote.Commit("many", manyPipelines(3))
	s, data := newTestSyncer(t, remote.Dir)
	mustSync(t, s, OutcomeUpdated)
	remote.Commit("more", map[string]string{"extra/main.py": helloMain})
	mustSync(t, s, OutcomeUpdated)

	// A write lost to a crash leaves a file shorter than its blob.
	dir := filepath.Join(data, "revisions", first)
	if err := os.Remove(filepath.Join(dir, completeMarker)); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(dir, "p001", "pipeline.json")
	if err := os.Truncate(meta, 0); err != nil {
		t.Fatal(err)
	}
	remote.ForcePush(first)
	res := mustSync(t, s, OutcomeUpdated)
	p, _ := res.Snapshot.Pipeline("p001")
	if !p.Valid() || p.Spec.Timeout != 60 {
		t.Errorf("p001 after rollback: problems %v, spec %+v; want its pipeline.json back", p.Problems, p.Spec)
	}
	if b, _ := os.ReadFile(meta); string(b) != `{"timeout": 60}` {
		t.Errorf("pipeline.json = %q after rollback", b)
	}
}

func TestMarkerNameInTreeIsRefused(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	remote.Commit("sneaky", map[string]string{
		"hello/main.py":  helloMain,
		completeMarker:   `{"revision":"` + strings.Repeat("0", 40) + `","problems":[]}`,
		"top-level-link": "->/root",
	})
	s, _ := newTestSyncer(t, remote.Dir)
	res := mustSync(t, s, OutcomeUpdated)
	var paths []string
	for _, p := range res.Snapshot.Problems {
		paths = append(paths, p.Path)
	}
	slices.Sort(paths)
	if want := []string{completeMarker, "top-level-link"}; !slices.Equal(paths, want) {
		t.Errorf("repository problems on %v, want %v", paths, want)
	}
	assertMarked(t, res.Snapshot.Dir, res.Snapshot.Revision)
}

func TestRollbackKeepsProblemsOfReusedFolder(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	first := remote.Commit("sneaky", map[string]string{
		"thief/main.py":  helloMain,
		"thief/shadow":   "->/etc/shadow",
		"top-level-link": "->/root",
	})
	s, _ := newTestSyncer(t, remote.Dir)
	fresh := mustSync(t, s, OutcomeUpdated)
	remote.Commit("more", map[string]string{"extra/main.py": helloMain})
	mustSync(t, s, OutcomeUpdated)

	// The folder is reused; the refused links it does not hold must still
	// be reported, or the rollback would claim fewer problems than there are.
	remote.ForcePush(first)
	res := mustSync(t, s, OutcomeUpdated)
	if got, want := res.Snapshot.ProblemCount(), fresh.Snapshot.ProblemCount(); got != want || want != 2 {
		t.Errorf("problems after rollback = %d, want %d as when it was first written (2)", got, want)
	}
}

func TestLoadRebuildsIncompletePublishedFolder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir string)
	}{
		{name: "partial, no marker", spoil: func(t *testing.T, dir string) { breakFolder(t, dir, nil) }},
		{name: "folder gone", spoil: func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			remote := gittest.New(t)
			sha := remote.Commit("many", manyPipelines(10))
			want := gitFiles(remote)
			s, data := newTestSyncer(t, remote.Dir)
			mustSync(t, s, OutcomeUpdated)
			dir := filepath.Join(data, "revisions", sha)
			tt.spoil(t, dir)

			// A new process, same DATA_DIR, remote unreachable: the bare
			// repository alone must bring the published revision back whole.
			restarted, err := NewSyncer(Config{URL: filepath.Join(t.TempDir(), "gone"), Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := restarted.Load(context.Background())
			if err != nil || snap == nil || snap.Revision != sha {
				t.Fatalf("Load = %v, %v; want revision %s", snap, err, sha)
			}
			if len(snap.Pipelines) != 10 {
				t.Errorf("Load published %d pipelines, want 10", len(snap.Pipelines))
			}
			if got := treeFiles(t, dir); !slices.Equal(got, want) {
				t.Errorf("published folder holds %d files after Load, want %d", len(got), len(want))
			}
			if livePath(t, restarted) != dir {
				t.Errorf("PIPELINES_DIR -> %s, want %s", livePath(t, restarted), dir)
			}
			assertMarked(t, dir, sha)
		})
	}
}

func TestLoadWithoutCommitRefusesIncompleteFolderThenSyncRebuilds(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	sha := remote.Commit("many", manyPipelines(10))
	s, data := newTestSyncer(t, remote.Dir)
	mustSync(t, s, OutcomeUpdated)
	dir := filepath.Join(data, "revisions", sha)
	breakFolder(t, dir, nil)
	if err := os.RemoveAll(filepath.Join(data, "repo.git")); err != nil {
		t.Fatal(err)
	}

	// Without the commit the folder can be neither checked nor rebuilt:
	// Load must not adopt it, and the first sync must publish it whole.
	restarted, err := NewSyncer(Config{URL: remote.Dir, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := restarted.Load(context.Background()); err == nil || snap != nil {
		t.Fatalf("Load = %v, %v; want an error and nothing adopted", snap, err)
	}
	if restarted.Live() != nil {
		t.Fatal("Load adopted an incomplete folder")
	}
	res := mustSync(t, restarted, OutcomeUpdated)
	if len(res.Snapshot.Pipelines) != 10 {
		t.Errorf("sync published %d pipelines, want 10", len(res.Snapshot.Pipelines))
	}
	assertMarked(t, dir, sha)
}

func TestLoadTidiesRevisions(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	partial := remote.Commit("a", manyPipelines(10))
	old := remote.Commit("b", map[string]string{"b/main.py": helloMain})
	live := remote.Commit("c", map[string]string{"c/main.py": helloMain})
	s, data := newTestSyncer(t, remote.Dir)
	revs := filepath.Join(data, "revisions")
	for _, sha := range []string{partial, old, live} {
		remote.ForcePush(sha)
		mustSync(t, s, OutcomeUpdated)
	}
	breakFolder(t, filepath.Join(revs, partial), nil)
	if err := os.Remove(filepath.Join(revs, old, completeMarker)); err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("cd", 20)
	leftovers := []string{".trash-" + ShortSHA(partial) + "-x", ".tmp-" + ShortSHA(live) + "-y", unknown}
	for _, name := range leftovers {
		if err := os.MkdirAll(filepath.Join(revs, name, "p000"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(revs, name, "p000", "main.py"), []byte(helloMain), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	restarted, err := NewSyncer(Config{URL: remote.Dir, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := restarted.Load(context.Background()); err != nil || snap.Revision != live {
		t.Fatalf("Load = %v, %v; want %s", snap, err, live)
	}
	entries, err := os.ReadDir(revs)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	// Trash, temporary and partial folders go; the complete folder from
	// before the marker is adopted; a folder whose commit is unknown cannot
	// be checked and is left to GC (it can never be reused).
	wantLeft := []string{old, live, unknown}
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("revisions after Load = %v, want %v", left, wantLeft)
	}
	assertMarked(t, filepath.Join(revs, old), old)
}

func TestRevisionRepairsIncompleteFolder(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	first := remote.Commit("many", manyPipelines(10))
	s, data := newTestSyncer(t, remote.Dir)
	mustSync(t, s, OutcomeUpdated)
	remote.Commit("more", map[string]string{"extra/main.py": helloMain})
	mustSync(t, s, OutcomeUpdated)
	dir := filepath.Join(data, "revisions", first)
	breakFolder(t, dir, nil)

	// A re-attached run of p003 must get its own pipeline.json, not a
	// partial tree's idea of it.
	snap, err := s.Revision(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := snap.Pipeline("p003")
	if !ok || p.Spec.Timeout != 60 {
		t.Errorf("p003 at %s = %+v, %v; want it with its pipeline.json", ShortSHA(first), p, ok)
	}
	assertMarked(t, dir, first)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revision(context.Background(), first); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Revision of a folder that is gone = %v, want not-exist", err)
	}
}

func TestGCLeavesNoTrash(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	s, data := newTestSyncer(t, remote.Dir)
	var shas []string
	for i := range 5 {
		shas = append(shas, remote.Commit("c", map[string]string{"hello/main.py": helloMain, "hello/n.txt": fmt.Sprint(i)}))
		mustSync(t, s, OutcomeUpdated)
	}
	revs := filepath.Join(data, "revisions")
	if err := os.MkdirAll(filepath.Join(revs, ".trash-"+ShortSHA(shas[0])+"-old", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := s.GC(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{shas[0], shas[1]}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("GC removed %v, want %v", removed, want)
	}
	entries, _ := os.ReadDir(revs)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("GC left %s behind", e.Name())
		}
	}
}

func TestCompletionMarkerFormat(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	remote.Commit("one", map[string]string{
		"hello/main.py":          helloMain,
		"hello/data/deep/in.csv": "a\n",
		"hello/data/link":        "->deep/in.csv",
		"hello/out":              "->/etc",
		"README.md":              "hi\n",
	})
	s, _ := newTestSyncer(t, remote.Dir)
	res := mustSync(t, s, OutcomeUpdated)
	b, err := os.ReadFile(filepath.Join(res.Snapshot.Dir, completeMarker))
	if err != nil {
		t.Fatal(err)
	}
	var c completion
	if err := json.Unmarshal(b, &c); err != nil || c.Revision != res.Snapshot.Revision || c.Problems == nil {
		t.Errorf("marker = %s (%v); want the revision and a problem list", b, err)
	}
	// What materialize counted as it wrote is what reuse counts again.
	if n, err := countEntries(res.Snapshot.Dir); err != nil || n != c.Entries {
		t.Errorf("marker counts %d entries, the folder holds %d (%v)", c.Entries, n, err)
	}
	// The marker is Fast-Flow's, not a pipeline.
	for _, p := range res.Snapshot.Pipelines {
		if strings.HasPrefix(p.Name, ".") {
			t.Errorf("discovered %q as a pipeline", p.Name)
		}
	}
}

// TestRevisionFetchesAMissingCommit: a replica asked for a commit another
// replica published (a run admitted there) fetches it, writes its folder
// and returns it, without moving its own live revision; a commit the
// remote does not have is an error.
func TestRevisionFetchesAMissingCommit(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	first := remote.Commit("first", map[string]string{"hello/main.py": helloMain})
	a, _ := newTestSyncer(t, remote.Dir)
	b, _ := newTestSyncer(t, remote.Dir)
	mustSync(t, a, OutcomeUpdated)
	mustSync(t, b, OutcomeUpdated)
	second := remote.Commit("second", map[string]string{"extra/main.py": helloMain})
	mustSync(t, a, OutcomeUpdated)

	snap, err := b.Revision(context.Background(), second)
	if err != nil {
		t.Fatalf("Revision(%s) on the replica that lacks it: %v", ShortSHA(second), err)
	}
	if _, ok := snap.Pipeline("extra"); !ok || snap.Revision != second {
		t.Errorf("snapshot %s lacks the second commit's pipeline", snap.Revision)
	}
	if live := b.Live(); live == nil || live.Revision != first {
		t.Errorf("b's live revision moved to %v; only a sync publishes", live)
	}
	if _, err := b.Revision(context.Background(), strings.Repeat("ab", 20)); err == nil {
		t.Error("Revision of a commit nobody has succeeded")
	}
}
