// Package gittest makes real Git repositories for tests: it commits through
// the git binary exactly as a user would, so sync is tested against the same
// objects a push produces.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Remote is a real Git repository on disk, with a work tree, on branch main.
type Remote struct {
	t testing.TB
	// Dir is the repository's directory; use it as GIT_REPO_URL.
	Dir string
}

// New makes an empty repository on branch main in a temporary directory.
func New(t testing.TB) *Remote {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("the git binary is required for repo tests: %v", err)
	}
	r := &Remote{t: t, Dir: t.TempDir()}
	r.Git("init", "-q", "-b", "main")
	return r
}

// Open wraps an existing repository, such as one a parent test process
// made.
func Open(t testing.TB, dir string) *Remote {
	return &Remote{t: t, Dir: dir}
}

// Git runs git in the repository and returns its trimmed output.
func (r *Remote) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Fast-Flow Test", "-c", "user.email=test@fastflow.invalid", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write puts files into the work tree; a value starting with "->" makes a
// symlink, an empty value deletes the file.
func (r *Remote) Write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		_ = os.Remove(p)
		switch {
		case content == "":
		case strings.HasPrefix(content, "->"):
			if err := os.Symlink(strings.TrimPrefix(content, "->"), p); err != nil {
				r.t.Fatal(err)
			}
		default:
			mode := os.FileMode(0o644)
			if strings.HasPrefix(content, "#!") {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				r.t.Fatal(err)
			}
		}
	}
}

// Commit writes files and commits everything; it returns the new SHA.
func (r *Remote) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	r.Write(files)
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Git("rev-parse", "HEAD")
}

// ForcePush moves the branch tip to sha, as `git push --force` of an older
// commit would.
func (r *Remote) ForcePush(sha string) {
	r.t.Helper()
	r.Git("reset", "-q", "--hard", sha)
}
