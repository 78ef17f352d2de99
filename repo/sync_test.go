package repo

import (
	"context"
	"errors"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

const helloMain = "print('hello')\n"

func newTestSyncer(t *testing.T, url string) (*Syncer, string) {
	t.Helper()
	data := t.TempDir()
	s, err := NewSyncer(Config{URL: url, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		t.Fatal(err)
	}
	return s, data
}

func mustSync(t *testing.T, s *Syncer, want Outcome) Result {
	t.Helper()
	res, err := s.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if res.Outcome != want {
		t.Fatalf("sync outcome = %s, want %s", res.Outcome, want)
	}
	return res
}

func livePath(t *testing.T, s *Syncer) string {
	t.Helper()
	target, err := os.Readlink(s.cfg.PipelinesDir)
	if err != nil {
		t.Fatalf("read PIPELINES_DIR: %v", err)
	}
	return target
}

func TestSyncPublishesBranchTip(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	first := remote.Commit("add hello", map[string]string{
		"hello/main.py":      helloMain,
		"hello/run.sh":       "#!/bin/sh\necho hi\n",
		"hello/data/in.csv":  "a,b\n",
		"hello/data/link":    "->in.csv",
		"notes/README.md":    "not a pipeline\n",
		".github/ci.yml":     "on: push\n",
		"broken/main.py":     helloMain,
		"broken/broken.json": "{",
	})
	s, data := newTestSyncer(t, remote.Dir)

	res := mustSync(t, s, OutcomeUpdated)
	if got, want := livePath(t, s), filepath.Join(data, "revisions", first); got != want {
		t.Fatalf("PIPELINES_DIR -> %s, want %s", got, want)
	}
	if res.Snapshot.Revision != first || res.Snapshot.CommitMessage != "add hello" {
		t.Errorf("snapshot = %s %q, want %s %q", res.Snapshot.Revision, res.Snapshot.CommitMessage, first, "add hello")
	}
	var names []string
	for _, p := range res.Snapshot.Pipelines {
		names = append(names, p.Name)
	}
	if want := []string{"broken", "hello"}; !slices.Equal(names, want) {
		t.Errorf("pipelines = %v, want %v", names, want)
	}
	if p, _ := res.Snapshot.Pipeline("broken"); p.Valid() {
		t.Errorf("pipeline with malformed metadata is valid")
	}
	if p, _ := res.Snapshot.Pipeline("hello"); !p.Valid() {
		t.Errorf("hello is invalid: %v", p.Problems)
	}

	rev := res.Snapshot.Dir
	if info, err := os.Stat(filepath.Join(rev, "hello/run.sh")); err != nil || info.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh lost its exec bit: %v %v", info, err)
	}
	if info, err := os.Stat(filepath.Join(rev, "hello/main.py")); err != nil || info.Mode().Perm()&0o111 != 0 {
		t.Errorf("main.py mode = %v, %v; want not executable", info, err)
	}
	if target, err := os.Readlink(filepath.Join(rev, "hello/data/link")); err != nil || target != "in.csv" {
		t.Errorf("symlink = %q, %v; want in.csv", target, err)
	}
	if _, err := os.Stat(filepath.Join(rev, ".git")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("revision holds .git: %v", err)
	}

	mustSync(t, s, OutcomeUnchanged)

	second := remote.Commit("add world", map[string]string{"world/main.py": helloMain})
	res = mustSync(t, s, OutcomeUpdated)
	if res.Snapshot.Revision != second || livePath(t, s) != filepath.Join(data, "revisions", second) {
		t.Fatalf("after second commit live = %s, want %s", livePath(t, s), second)
	}
	if _, ok := res.Snapshot.Pipeline("world"); !ok {
		t.Errorf("new pipeline world not discovered")
	}

	// A force-push back to the first commit is followed: the tip is what counts.
	remote.ForcePush(first)
	res = mustSync(t, s, OutcomeUpdated)
	if res.Snapshot.Revision != first || livePath(t, s) != filepath.Join(data, "revisions", first) {
		t.Fatalf("after force-push live = %s, want %s", livePath(t, s), first)
	}
}

func TestSyncFailureKeepsLastGoodRevision(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	good := remote.Commit("good", map[string]string{"hello/main.py": helloMain})

	tests := []struct {
		name    string
		breakIt func(t *testing.T, s *Syncer)
		wantErr error
	}{
		{
			name:    "remote gone",
			breakIt: func(t *testing.T, s *Syncer) { s.cfg.URL = filepath.Join(t.TempDir(), "nothing-here") },
		},
		{
			name:    "branch missing",
			breakIt: func(t *testing.T, s *Syncer) { s.cfg.Branch = "does-not-exist" },
			wantErr: ErrBranchNotFound,
		},
		{
			name:    "credentials refused",
			breakIt: func(t *testing.T, s *Syncer) { s.cfg.Auth = failingAuth{} },
			wantErr: errNoCredentials,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, data := newTestSyncer(t, remote.Dir)
			mustSync(t, s, OutcomeUpdated)
			tt.breakIt(t, s)

			res, err := s.Sync(context.Background())
			if err == nil || res.Outcome != OutcomeFailed || res.Err == nil {
				t.Fatalf("sync = %s, %v; want failure", res.Outcome, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if res.Snapshot == nil || res.Snapshot.Revision != good {
				t.Errorf("result snapshot = %v, want the last good revision", res.Snapshot)
			}
			if got := livePath(t, s); got != filepath.Join(data, "revisions", good) {
				t.Errorf("PIPELINES_DIR -> %s after a failed sync, want the last good revision", got)
			}
		})
	}
}

var errNoCredentials = errors.New("test: no credentials")

type failingAuth struct{}

func (failingAuth) AuthMethod(context.Context) (transport.AuthMethod, error) {
	return nil, errNoCredentials
}

func TestSyncRefusesSymlinksOutOfTheRepository(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	remote.Commit("sneaky", map[string]string{
		"thief/main.py":   helloMain,
		"thief/shadow":    "->/etc/shadow",
		"thief/up":        "->../../../../etc",
		"thief/ok":        "->main.py",
		"top-level-link":  "->/root",
		"honest/main.py":  helloMain,
		"honest/shared":   "->../lib",
		"lib/__init__.py": "",
	})
	s, _ := newTestSyncer(t, remote.Dir)
	res := mustSync(t, s, OutcomeUpdated)
	rev := res.Snapshot.Dir

	for _, name := range []string{"thief/shadow", "thief/up", "top-level-link"} {
		if _, err := os.Lstat(filepath.Join(rev, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was checked out (%v); a symlink out of the repository must never be written", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(rev, "thief/ok")); err != nil {
		t.Errorf("harmless symlink thief/ok missing: %v", err)
	}
	thief, _ := res.Snapshot.Pipeline("thief")
	if thief.Valid() || len(thief.Problems) < 2 {
		t.Errorf("thief problems = %v; want one per escaping link", thief.Problems)
	}
	if honest, _ := res.Snapshot.Pipeline("honest"); !honest.Valid() {
		t.Errorf("honest is invalid: %v", honest.Problems)
	}
	if len(res.Snapshot.Problems) != 1 || res.Snapshot.Problems[0].Path != "top-level-link" {
		t.Errorf("repository problems = %v, want the top-level link", res.Snapshot.Problems)
	}
}

func TestLoadAdoptsPublishedRevisionAfterRestart(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	sha := remote.Commit("one", map[string]string{"hello/main.py": helloMain})
	s, data := newTestSyncer(t, remote.Dir)
	mustSync(t, s, OutcomeUpdated)

	// A new process, same DATA_DIR, remote unreachable.
	restarted, err := NewSyncer(Config{URL: filepath.Join(t.TempDir(), "gone"), Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := restarted.Load(context.Background())
	if err != nil || snap == nil || snap.Revision != sha {
		t.Fatalf("Load = %v, %v; want revision %s", snap, err, sha)
	}
	if _, err := restarted.Sync(context.Background()); err == nil {
		t.Fatal("sync against a missing remote succeeded")
	}
	if live := restarted.Live(); live == nil || live.Revision != sha {
		t.Errorf("live after failed sync = %v, want %s", live, sha)
	}
}

func TestLoadWithNothingPublished(t *testing.T) {
	t.Parallel()
	s, _ := newTestSyncer(t, t.TempDir())
	snap, err := s.Load(context.Background())
	if snap != nil || err != nil {
		t.Fatalf("Load = %v, %v; want nil, nil", snap, err)
	}
}

func TestSyncRefusesToReplaceARealDirectory(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	remote.Commit("one", map[string]string{"hello/main.py": helloMain})
	s, data := newTestSyncer(t, remote.Dir)
	if err := os.MkdirAll(filepath.Join(data, "pipelines", "mine"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(context.Background()); !errors.Is(err, errNotSymlink) {
		t.Fatalf("sync over a real directory: %v, want %v", err, errNotSymlink)
	}
	if _, err := os.Stat(filepath.Join(data, "pipelines", "mine")); err != nil {
		t.Errorf("user's directory was touched: %v", err)
	}
}

func TestGCKeepsLiveNewestAndInUse(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	s, data := newTestSyncer(t, remote.Dir)
	var shas []string
	for i := range 6 {
		shas = append(shas, remote.Commit("c", map[string]string{"hello/main.py": helloMain, "hello/n.txt": string(rune('a' + i))}))
		mustSync(t, s, OutcomeUpdated)
	}
	// A sync interrupted mid-write leaves a temporary directory behind.
	if err := os.Mkdir(filepath.Join(data, "revisions", ".tmp-abandoned"), 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := s.GC(context.Background(), []string{shas[0]})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{shas[1], shas[2]}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("GC removed %v, want %v", removed, want)
	}
	entries, _ := os.ReadDir(filepath.Join(data, "revisions"))
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	wantLeft := []string{shas[0], shas[3], shas[4], shas[5]}
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("revisions left = %v, want %v (in use, then the three newest)", left, wantLeft)
	}
}
