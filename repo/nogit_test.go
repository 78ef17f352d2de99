package repo

import (
	"context"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/repo/gittest"
)

// TestSyncLocalPathWithoutGit: Fast-Flow's image has no git binary, which
// go-git needs for a local path. The sync fails with a message that says so
// and what to use instead, not a bare "executable file not found".
func TestSyncLocalPathWithoutGit(t *testing.T) {
	remote := gittest.New(t)
	remote.Commit("add hello", map[string]string{"hello/main.py": helloMain})
	s, _ := newTestSyncer(t, remote.Dir)
	t.Setenv("PATH", t.TempDir())

	_, err := s.Sync(context.Background())
	if err == nil {
		t.Fatal("sync without git succeeded")
	}
	for _, want := range []string{"git binary", "https://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
