package repo

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/repo/repotest"
)

// killPipelines is how many pipelines the revision that is deleted holds:
// thousands of files, so that deleting it takes long enough to be cut short.
const killPipelines = 1000

// TestHelperGCProcess is not a test: it is the process that
// TestGCKilledMidDeleteThenRollback starts and kills with SIGKILL while it
// deletes a revision. FASTFLOW_HELPER_GC says how it deletes: "gc" through
// Syncer.GC; "in-place" and "older version" with a plain recursive removal
// of the folder under its own name, as Fast-Flow did before revisions were
// moved to trash first (for "older version" the folder has no marker, as
// such a version wrote none).
func TestHelperGCProcess(t *testing.T) {
	mode, data, remote := os.Getenv("FASTFLOW_HELPER_GC"), os.Getenv("FASTFLOW_HELPER_GC_DATA"), os.Getenv("FASTFLOW_HELPER_GC_REMOTE")
	if mode == "" {
		t.Skip("helper process only")
	}
	fmt.Println("DELETING")
	switch mode {
	case "gc":
		s, err := NewSyncer(killConfig(remote, data))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GC(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	case "in-place", "older version":
		if err := os.RemoveAll(filepath.Join(data, "revisions", os.Getenv("FASTFLOW_HELPER_GC_SHA"))); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("DELETED")
	select {} // until killed
}

func killConfig(remote, data string) Config {
	return Config{URL: remote, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines"), KeepRevisions: 1}
}

// TestGCKilledMidDeleteThenRollback publishes a revision of thousands of
// pipelines, moves on, kills a process with SIGKILL while it deletes that
// revision, then rolls the branch back to it (a force-push) in a new process
// on the same DATA_DIR: the rollback must publish the whole tree, never what
// the deletion left of it.
func TestGCKilledMidDeleteThenRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and deletes thousands of files")
	}
	t.Parallel()
	origin := gittest.New(t)
	if err := repotest.GenerateDir(origin.Dir, killPipelines); err != nil {
		t.Fatal(err)
	}
	big := origin.Commit("big", nil)
	wantFiles := gitFiles(origin)
	origin.Git("rm", "-q", "-r", ".")
	small := origin.Commit("small", map[string]string{"tiny/main.py": helloMain})

	for _, mode := range []string{"gc", "in-place", "older version"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			// Each subtest moves the branch of a clone of its own.
			remote := gittest.Open(t, filepath.Join(t.TempDir(), "remote"))
			origin.Git("clone", "-q", origin.Dir, remote.Dir)
			data := t.TempDir()
			s, err := NewSyncer(killConfig(remote.Dir, data))
			if err != nil {
				t.Fatal(err)
			}
			remote.ForcePush(big)
			mustSync(t, s, OutcomeUpdated)
			remote.ForcePush(small)
			mustSync(t, s, OutcomeUpdated)
			bigDir := filepath.Join(data, "revisions", big)
			if mode == "older version" {
				if err := os.Remove(filepath.Join(bigDir, completeMarker)); err != nil {
					t.Fatal(err)
				}
			}
			full := topEntries(bigDir)

			killMidDelete(t, mode, remote.Dir, data, big, full)

			// Whatever was cut short, nothing partial may sit under the
			// commit's own name once a new process has started.
			restarted, err := NewSyncer(killConfig(remote.Dir, data))
			if err != nil {
				t.Fatal(err)
			}
			if snap, err := restarted.Load(context.Background()); err != nil || snap.Revision != small {
				t.Fatalf("Load after the kill = %v, %v; want %s", snap, err, small)
			}
			entries, _ := os.ReadDir(filepath.Join(data, "revisions"))
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("Load left %s behind", e.Name())
				}
			}
			if _, err := readCompletion(bigDir, big); !os.IsNotExist(err) && err != nil {
				t.Errorf("after Load the deleted revision is neither gone nor complete: %v", err)
			}

			remote.ForcePush(big)
			res := mustSync(t, restarted, OutcomeUpdated)
			if got := len(res.Snapshot.Pipelines); got != killPipelines {
				t.Errorf("rollback published %d of %d pipelines", got, killPipelines)
			}
			if res.Snapshot.ProblemCount() != 0 {
				t.Errorf("rollback has %d problems", res.Snapshot.ProblemCount())
			}
			if got := treeFiles(t, bigDir); !slices.Equal(got, wantFiles) {
				t.Errorf("rollback folder holds %d files, want the %d of the commit", len(got), len(wantFiles))
			}
			assertMarked(t, bigDir, big)
		})
	}
}

// killMidDelete starts TestHelperGCProcess and SIGKILLs it as soon as the
// folder of sha (under its own name or as trash) has lost part of its
// entries, then checks that it was indeed cut short.
func killMidDelete(t *testing.T, mode, remote, data, sha string, full int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperGCProcess$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "FASTFLOW_HELPER_GC="+mode, "FASTFLOW_HELPER_GC_DATA="+data,
		"FASTFLOW_HELPER_GC_REMOTE="+remote, "FASTFLOW_HELPER_GC_SHA="+sha)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for l := range lines {
		if l == "DELETING" {
			break
		}
	}

	revs := filepath.Join(data, "revisions")
	deadline := time.Now().Add(60 * time.Second)
	var victim string
	for victim == "" {
		if time.Now().After(deadline) {
			t.Fatal("the helper never started deleting")
		}
		select {
		case l := <-lines:
			if l == "DELETED" {
				t.Fatal("the deletion finished before it could be killed; the test proved nothing")
			}
		default:
		}
		entries, _ := os.ReadDir(revs)
		for _, e := range entries {
			if e.Name() != sha && !strings.HasPrefix(e.Name(), trashPrefix+ShortSHA(sha)) {
				continue
			}
			if n := topEntries(filepath.Join(revs, e.Name())); n < full {
				victim = e.Name()
				break
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	left := topEntries(filepath.Join(revs, victim))
	if left <= 0 || left >= full {
		t.Fatalf("after the kill %s holds %d of %d entries; the kill did not land mid-delete", victim, left, full)
	}
	t.Logf("killed mid-delete: %s holds %d of %d entries", victim, left, full)
	if mode == "gc" && victim == sha {
		t.Errorf("GC deleted the revision under its own name")
	}
}

// topEntries counts the entries directly in dir, -1 when it is gone.
func topEntries(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	return len(entries)
}
