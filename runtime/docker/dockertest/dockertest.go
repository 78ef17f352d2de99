// Package dockertest holds helpers for tests that need a real Docker engine.
//
// Such tests skip on a developer machine without Docker and fail under
// CI=true, so a green CI run means they ran. scripts/test-env.sh starts an
// engine on Debian as root.
package dockertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/docker"
)

// pingTimeout bounds how long a test waits for the daemon to answer. A local
// daemon answers in milliseconds; a few seconds leave room for a loaded CI
// machine without letting a hung daemon stall the suite.
const pingTimeout = 10 * time.Second

// RequireDocker returns a client for the daemon selected by the environment
// (DOCKER_HOST, or the default socket) after a real ping has succeeded. When no
// daemon answers it skips the test, or fails it when the CI environment
// variable is true. The client is closed when the test ends.
func RequireDocker(t testing.TB) *docker.Client {
	t.Helper()
	c, err := docker.New(docker.Config{})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		err = c.Ping(ctx)
		cancel()
		if err != nil {
			_ = c.Close()
		}
	}
	if err != nil {
		msg := "docker: no daemon answers (run scripts/test-env.sh as root on Debian to start one): " + err.Error()
		if !errors.Is(err, docker.ErrDaemonUnreachable) {
			msg = "docker: the daemon is not usable: " + err.Error()
		}
		if InCI() {
			t.Fatal(msg + " [CI=true: a missing Docker engine is a failure]")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close docker client: %v", err)
		}
	})
	return c
}

// InCI reports whether the tests run in CI (CI=true), where a missing
// part (Docker, PostgreSQL, Chromium) fails a test instead of skipping it.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// WorkerImage is the local worker image `make test` builds with
// scripts/worker-image.sh where no registry can be reached.
const WorkerImage = "fastflow-worker:local"

// RequireImage is RequireDocker for tests that also need image present in
// the daemon: it skips without it on a developer machine and fails under
// CI, where `make test` builds it first.
func RequireImage(t testing.TB, image string) *docker.Client {
	t.Helper()
	c := RequireDocker(t)
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		msg := "docker: image " + image + " is missing (make worker-image builds the local one)"
		if InCI() {
			t.Fatal(msg + " [CI=true: a missing image is a failure]")
		}
		t.Skip(msg)
	}
	return c
}
