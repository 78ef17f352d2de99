package workerimage

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator/uvcache"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

const (
	image     = "fastflow-worker:local"
	testWheel = "testdata/wheels/fastflow_testpkg-1.0.0-py3-none-any.whl"
	// marker is the file the stand-in writes into a complete environment.
	marker = ".fastflow-complete"
	// runTimeout bounds one container; a run takes about a second here.
	runTimeout = 2 * time.Minute
)

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// run is `docker run --rm --network none [dockerArgs...] image cmd...`.
func run(t *testing.T, dockerArgs []string, cmd ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	args := append([]string{"run", "--rm", "--network", "none", "--label", "fastflow.test=workerimage"}, dockerArgs...)
	args = append(append(args, image), cmd...)
	c := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	start := time.Now()
	err := c.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if r.code == 125 {
		t.Fatalf("docker %s: docker itself failed (125):\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// sandbox is a pipeline folder mounted read-only at /app, a uv cache mounted
// at /root/.cache/uv and the test wheels at /wheels.
type sandbox struct {
	app, cache string
}

func newSandbox(t *testing.T, files map[string]string) *sandbox {
	t.Helper()
	s := &sandbox{app: t.TempDir(), cache: t.TempDir()}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.app, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() != 0 {
		// The container writes the cache as root; empty it from inside so
		// t.TempDir can remove it.
		t.Cleanup(func() {
			_ = exec.Command("docker", "run", "--rm", "--network", "none", "-v", s.cache+":/c", image,
				"sh", "-c", "rm -rf /c/* /c/.[!.]*").Run()
		})
	}
	return s
}

func (s *sandbox) args(t *testing.T) []string {
	t.Helper()
	wheels, err := filepath.Abs("testdata/wheels")
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"-v", s.app + ":/app:ro",
		"-v", s.cache + ":/root/.cache/uv",
		"-v", wheels + ":/wheels:ro",
		"-e", "UV_FIND_LINKS=/wheels",
		"-w", "/app",
	}
}

func (s *sandbox) run(t *testing.T, cmd ...string) result {
	t.Helper()
	return run(t, s.args(t), cmd...)
}

// environments lists the complete cached environments and fails on leftovers
// of a build (temporary folders, environments without their marker).
func (s *sandbox) environments(t *testing.T) map[string]time.Time {
	t.Helper()
	dir := filepath.Join(s.cache, "environments")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the uv cache has no environments folder: %v", err)
	}
	envs := map[string]time.Time{}
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), ".lock"):
		case e.IsDir() && strings.HasPrefix(e.Name(), "."):
			t.Errorf("a temporary environment was left behind: %s", e.Name())
		case e.IsDir():
			fi, err := os.Stat(filepath.Join(dir, e.Name(), marker))
			if err != nil {
				t.Errorf("environment %s has no %s: %v", e.Name(), marker, err)
				continue
			}
			envs[e.Name()] = fi.ModTime()
		default:
			t.Errorf("unexpected file in the environments folder: %s", e.Name())
		}
	}
	return envs
}

func expect(t *testing.T, r result, code int, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout {
		t.Errorf("exit %d, stdout %q; want exit %d, stdout %q (stderr: %s)", r.code, r.stdout, code, stdout, r.stderr)
	}
}

// TestImageIsUpToDate fails when the image was built from another recipe, so
// the tests below would check an old stand-in.
func TestImageIsUpToDate(t *testing.T) {
	dockertest.RequireImage(t, image)
	out, err := exec.Command("bash", "../../scripts/worker-image.sh", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("%s is stale: rebuild it with `make worker-image` (scripts/worker-image.sh): %v\n%s", image, err, out)
	}
}

func TestVersionSaysStandIn(t *testing.T) {
	dockertest.RequireImage(t, image)
	r := run(t, nil, "uv", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "uv ") || !strings.Contains(r.stdout, "stand-in") {
		t.Fatalf("uv --version: exit %d, %q; want `uv VERSION (stand-in ...)`, exit 0 (stderr: %s)", r.code, r.stdout, r.stderr)
	}
	t.Logf("uv --version: %s", strings.TrimSpace(r.stdout))
	r = run(t, nil, "head", "-n", "2", "/usr/local/bin/uv")
	if !strings.Contains(r.stdout, "STAND-IN") {
		t.Errorf("the first lines of /usr/local/bin/uv do not say it is a stand-in: %q", r.stdout)
	}
}

func TestUnknownSubcommandFails(t *testing.T) {
	dockertest.RequireImage(t, image)
	r := run(t, nil, "uv", "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, "unrecognized subcommand 'frobnicate'") {
		t.Errorf("uv frobnicate: exit %d, stderr %q; want exit 2 and a clear error", r.code, r.stderr)
	}
}

func TestRunPassesOutputAndExitCodes(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{
		"hello.py": "import sys\nprint('hello from', sys.argv[1:])\n",
		"boom.py":  "raise ValueError('boom')\n",
		"three.py": "import sys\nprint('leaving with 3')\nsys.exit(3)\n",
	})
	expect(t, s.run(t, "uv", "run", "/app/hello.py", "a", "b"), 0, "hello from ['a', 'b']\n")
	r := s.run(t, "uv", "run", "/app/boom.py")
	expect(t, r, 1, "")
	if !strings.Contains(r.stderr, "Traceback") || !strings.Contains(r.stderr, "ValueError: boom") {
		t.Errorf("an exception's traceback is missing from stderr: %q", r.stderr)
	}
	expect(t, s.run(t, "uv", "run", "three.py"), 3, "leaving with 3\n")
	// python/python3 name the interpreter, as with the real uv.
	expect(t, s.run(t, "uv", "run", "python", "-c", "print(6 * 7)"), 0, "42\n")
	expect(t, s.run(t, "uv", "run", "--no-project", "python3", "-c", "import sys; sys.exit(4)"), 4, "")
}

func TestRunWithRequirementsReusesTheEnvironment(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{
		"requirements.txt": "fastflow-testpkg==1.0.0\n",
		"none.txt":         "# no requirement\n",
		"main.py": "import sys\nimport fastflow_testpkg\n" +
			"print(fastflow_testpkg.greet('pipeline'))\nprint(sys.prefix)\n",
	})
	cmd := []string{"uv", "run", "--with-requirements", "/app/requirements.txt", "/app/main.py"}
	first := s.run(t, cmd...)
	if first.code != 0 || !strings.HasPrefix(first.stdout, "hello pipeline from fastflow_testpkg 1.0.0\n/root/.cache/uv/environments/") {
		t.Fatalf("first run: exit %d, stdout %q (stderr: %s)", first.code, first.stdout, first.stderr)
	}
	envs := s.environments(t)
	if len(envs) != 1 {
		t.Fatalf("after the first run: %d cached environments, want 1: %v", len(envs), envs)
	}
	second := s.run(t, cmd...)
	if second.code != 0 || second.stdout != first.stdout {
		t.Fatalf("second run: exit %d, stdout %q; want %q (stderr: %s)", second.code, second.stdout, first.stdout, second.stderr)
	}
	again := s.environments(t)
	for name, built := range envs {
		if !again[name].Equal(built) || len(again) != 1 {
			t.Errorf("the second run did not reuse environment %s (built %v, now %v)", name, built, again)
		}
	}
	t.Logf("first run (builds the environment) %v, second run (reuses it) %v", first.took.Round(time.Millisecond), second.took.Round(time.Millisecond))

	// Other requirements get their own environment, even when they list none.
	r := s.run(t, "uv", "run", "--with-requirements", "/app/none.txt", "python", "-c", "import sys; print(sys.prefix)")
	if r.code != 0 || len(s.environments(t)) != 2 {
		t.Errorf("another requirements file: exit %d, %d environments; want 0 and 2 (stderr: %s)", r.code, len(s.environments(t)), r.stderr)
	}
}

func TestPipInstallWarmsTheRunEnvironment(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{"requirements.txt": "fastflow-testpkg==1.0.0\n"})
	r := s.run(t, "uv", "pip", "install", "-r", "/app/requirements.txt")
	if r.code != 0 {
		t.Fatalf("uv pip install -r: exit %d (stderr: %s)", r.code, r.stderr)
	}
	envs := s.environments(t)
	if len(envs) != 1 {
		t.Fatalf("uv pip install -r made %d environments, want 1", len(envs))
	}
	r = s.run(t, "uv", "-v", "run", "--with-requirements", "/app/requirements.txt",
		"python", "-c", "import fastflow_testpkg; print(fastflow_testpkg.__version__)")
	expect(t, r, 0, "1.0.0\n")
	if !strings.Contains(r.stderr, "reused") {
		t.Errorf("uv run after uv pip install did not reuse the environment; stderr: %q", r.stderr)
	}
	if again := s.environments(t); len(again) != 1 {
		t.Errorf("uv run after uv pip install built another environment: %v then %v", envs, again)
	}

	// Into a virtual environment, the real uv's way.
	r = s.run(t, "sh", "-ec", "uv venv -q /tmp/venv && VIRTUAL_ENV=/tmp/venv uv pip install -r /app/requirements.txt"+
		" && /tmp/venv/bin/python -c 'import fastflow_testpkg; print(fastflow_testpkg.__file__)'")
	expect(t, r, 0, "/tmp/venv/lib/python3.11/site-packages/fastflow_testpkg/__init__.py\n")
}

func TestMissingRequirementFails(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{
		"requirements.txt": "fastflow-testpkg==1.0.0\nfastflow-not-there==9.9\n",
		"main.py":          "print('must not run')\n",
	})
	r := s.run(t, "uv", "run", "--with-requirements", "/app/requirements.txt", "/app/main.py")
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 2 and no output", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "No matching distribution found for fastflow-not-there==9.9") {
		t.Errorf("pip's error is missing from stderr: %q", r.stderr)
	}
	if envs := s.environments(t); len(envs) != 0 {
		t.Errorf("a failed install left environments behind: %v", envs)
	}
	r = s.run(t, "uv", "run", "--with-requirements", "/app/nothing.txt", "/app/main.py")
	if r.code != 2 || !strings.Contains(r.stderr, "File not found") {
		t.Errorf("a missing requirements file: exit %d, stderr %q; want exit 2, File not found", r.code, r.stderr)
	}
}

func TestConcurrentRunsShareOneEnvironment(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{
		"requirements.txt": "fastflow-testpkg==1.0.0\n",
		"main.py":          "import fastflow_testpkg\nprint(fastflow_testpkg.greet('concurrent'))\n",
	})
	const n = 3
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = s.run(t, "uv", "run", "--with-requirements", "/app/requirements.txt", "/app/main.py")
		})
	}
	wg.Wait()
	for i, r := range results {
		expect(t, r, 0, "hello concurrent from fastflow_testpkg 1.0.0\n")
		t.Logf("run %d took %v", i, r.took.Round(time.Millisecond))
	}
	if envs := s.environments(t); len(envs) != 1 {
		t.Errorf("%d concurrent runs left %d environments, want 1", n, len(envs))
	}
}

// TestSIGTERMReachesTheScript stops a running container with a grace period:
// the script's handler must run, and its exit code must be the container's.
func TestSIGTERMReachesTheScript(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{
		"requirements.txt": "fastflow-testpkg==1.0.0\n",
		"trap.py": "import signal, sys, time\n" +
			"def stop(signum, frame):\n    print('got SIGTERM', flush=True)\n    sys.exit(7)\n" +
			"signal.signal(signal.SIGTERM, stop)\nprint('ready', flush=True)\ntime.sleep(120)\n",
	})
	for _, tc := range []struct {
		name string
		cmd  []string
	}{
		{"plain", []string{"uv", "run", "/app/trap.py"}},
		{"with-requirements", []string{"uv", "run", "--with-requirements", "/app/requirements.txt", "/app/trap.py"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("fastflow-workerimage-test-%d-%s", os.Getpid(), tc.name)
			args := append([]string{"run", "-d", "--name", name, "--network", "none", "--label", "fastflow.test=workerimage"}, s.args(t)...)
			args = append(append(args, image), tc.cmd...)
			if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
				t.Fatalf("docker run -d: %v: %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
			logs := func() string {
				out, _ := exec.Command("docker", "logs", name).CombinedOutput()
				return string(out)
			}
			deadline := time.Now().Add(runTimeout)
			for !strings.Contains(logs(), "ready") {
				if time.Now().After(deadline) {
					t.Fatalf("the script never became ready; logs: %q", logs())
				}
				time.Sleep(100 * time.Millisecond)
			}
			start := time.Now()
			if out, err := exec.Command("docker", "stop", "-t", "5", name).CombinedOutput(); err != nil {
				t.Fatalf("docker stop: %v: %s", err, out)
			}
			took := time.Since(start)
			out, err := exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}}", name).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != "7" || !strings.Contains(logs(), "got SIGTERM") {
				t.Errorf("after docker stop: exit code %s, logs %q; want 7 and the handler's line", got, logs())
			}
			if took >= 5*time.Second {
				t.Errorf("docker stop took %v: the script did not handle SIGTERM within the grace period", took)
			}
		})
	}
}

// TestTestWheelIsValid checks the committed wheel against its RECORD, so a
// hand edit that pip would refuse is caught without Docker.
func TestTestWheelIsValid(t *testing.T) {
	zr, err := zip.OpenReader(testWheel)
	if err != nil {
		t.Fatalf("%v (regenerate it with: python3 make-test-wheel.py)", err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = data
	}
	const dist = "fastflow_testpkg-1.0.0.dist-info/"
	for _, name := range []string{dist + "METADATA", dist + "WHEEL", dist + "RECORD", "fastflow_testpkg/__init__.py"} {
		if _, ok := files[name]; !ok {
			t.Fatalf("the wheel has no %s", name)
		}
	}
	recorded := 0
	for _, line := range strings.Split(strings.TrimSpace(string(files[dist+"RECORD"])), "\n") {
		parts := strings.Split(line, ",")
		if len(parts) != 3 {
			t.Fatalf("bad RECORD line %q", line)
		}
		if parts[0] == dist+"RECORD" {
			continue
		}
		data, ok := files[parts[0]]
		if !ok {
			t.Errorf("RECORD names %s, which the wheel lacks", parts[0])
			continue
		}
		sum := sha256.Sum256(data)
		want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:])
		if parts[1] != want || parts[2] != strconv.Itoa(len(data)) {
			t.Errorf("RECORD of %s is %s,%s; the file is %s,%d", parts[0], parts[1], parts[2], want, len(data))
		}
		recorded++
	}
	if recorded != len(files)-1 {
		t.Errorf("RECORD lists %d files, the wheel holds %d besides RECORD", recorded, len(files)-1)
	}
	if !strings.Contains(string(files[dist+"METADATA"]), "Name: fastflow-testpkg\nVersion: 1.0.0\n") {
		t.Errorf("unexpected METADATA: %q", files[dist+"METADATA"])
	}
}

// TestCacheTrimHonoursTheLock is the contract UV_CACHE_MAX_SIZE relies on:
// a run holds the cache lock until its program ends, so a trim while it
// runs removes nothing, and once it ended the least recently used
// environment goes first while the other is reused as it was.
func TestCacheTrimHonoursTheLock(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{
		"old.txt": "fastflow-testpkg==1.0.0\n",
		"new.txt": "# nothing\n",
	})
	for _, f := range []string{"old.txt", "new.txt"} {
		if r := s.run(t, "uv", "run", "--with-requirements", "/app/"+f, "python", "-c", "pass"); r.code != 0 {
			t.Fatalf("%s: exit %d: %s", f, r.code, r.stderr)
		}
	}
	envs := s.environments(t)
	if len(envs) != 2 {
		t.Fatalf("want 2 environments, have %v", envs)
	}
	// Which environment is which: the one with the test package is old.
	var oldEnv, newEnv string
	for name := range envs {
		if _, err := os.Stat(filepath.Join(s.cache, "environments", name, "lib", "python3.11", "site-packages", "fastflow_testpkg")); err == nil {
			oldEnv = name
		} else {
			newEnv = name
		}
	}
	if oldEnv == "" || newEnv == "" {
		t.Fatalf("could not tell the environments apart: %v", envs)
	}
	long := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(s.cache, "environments", oldEnv), long, long); err != nil {
		t.Fatal(err)
	}

	// A run that sits in its program, holding the lock it got from uv.
	name := fmt.Sprintf("fastflow-uvlock-%d", time.Now().UnixNano())
	args := append([]string{"run", "-d", "--name", name, "--network", "none", "--label", "fastflow.test=workerimage"}, s.args(t)...)
	args = append(args, image, "uv", "run", "--with-requirements", "/app/new.txt", "python", "-c",
		"import time; print('ready', flush=True); time.sleep(120)")
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker run -d: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	deadline := time.Now().Add(runTimeout)
	for {
		out, _ := exec.Command("docker", "logs", name).CombinedOutput()
		if strings.Contains(string(out), "ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never got ready: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ctx := t.Context()
	rep, err := uvcache.Trim(ctx, s.cache, 1, 1, time.Now())
	if !errors.Is(err, uvcache.ErrInUse) || len(rep.Removed) != 0 {
		t.Fatalf("trim while a run holds the cache: removed %v, err %v; want ErrInUse and nothing removed", rep.Removed, err)
	}
	if got := s.environments(t); len(got) != 2 {
		t.Fatalf("a trim refused for a busy cache changed it: %v", got)
	}
	// uv cache prune waits for the run too, as the real uv's does.
	r := s.run(t, "timeout", "3", "uv", "cache", "prune")
	if r.code != 124 || !strings.Contains(r.stderr, "currently in-use") {
		t.Errorf("uv cache prune beside a run: exit %d, stderr %q; want it waiting (timeout's 124)", r.code, r.stderr)
	}

	if out, err := exec.Command("docker", "rm", "-f", name).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v: %s", err, out)
	}
	u, err := uvcache.Measure(ctx, s.cache)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = uvcache.Trim(ctx, s.cache, u.Bytes-1, u.Bytes-1, time.Now())
	if err != nil {
		t.Fatalf("trim of an idle cache: %v", err)
	}
	if len(rep.Removed) != 1 || rep.Removed[0].Path != filepath.Join("environments", oldEnv) {
		t.Fatalf("trim removed %v, want only the least recently used environments/%s", rep.Removed, oldEnv)
	}
	if rep.After >= rep.Before || rep.RemovedBytes <= 0 {
		t.Errorf("report %+v: the size did not go down", rep)
	}
	got := s.environments(t)
	if _, ok := got[newEnv]; !ok || len(got) != 1 || !got[newEnv].Equal(envs[newEnv]) {
		t.Errorf("after the trim: %v; want only %s, untouched", got, newEnv)
	}
	r = s.run(t, "uv", "-v", "run", "--with-requirements", "/app/old.txt", "python", "-c", "import fastflow_testpkg")
	if r.code != 0 || strings.Contains(r.stderr, "reused") {
		t.Errorf("the evicted environment: exit %d, stderr %q; want it rebuilt", r.code, r.stderr)
	}
}

// TestCachePruneAndClean: prune removes what no run can use (a killed
// build's folder, an environment without its marker), clean everything.
func TestCachePruneAndClean(t *testing.T) {
	dockertest.RequireImage(t, image)
	s := newSandbox(t, map[string]string{"r.txt": "fastflow-testpkg==1.0.0\n"})
	if r := s.run(t, "uv", "run", "--with-requirements", "/app/r.txt", "python", "-c", "pass"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	envs := filepath.Join(s.cache, "environments")
	for _, d := range []string{".abc.tmp-x1", "halfbuilt"} {
		if err := os.MkdirAll(filepath.Join(envs, d, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := s.run(t, "uv", "cache", "prune")
	if r.code != 0 || !strings.Contains(r.stderr, "Removed") {
		t.Fatalf("uv cache prune: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := s.environments(t); len(got) != 1 {
		t.Fatalf("after prune: %v; want the one complete environment", got)
	}
	r = s.run(t, "uv", "cache", "clean")
	if r.code != 0 {
		t.Fatalf("uv cache clean: exit %d, stderr %q", r.code, r.stderr)
	}
	left, err := os.ReadDir(s.cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if e.Name() != ".lock" {
			t.Errorf("uv cache clean left %s", e.Name())
		}
	}
}
