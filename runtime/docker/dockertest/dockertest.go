// Package dockertest holds helpers for tests that need a real Docker engine.
//
// Such tests skip on a developer machine without Docker and fail under
// CI=true, so a green CI run means they ran (internal/testenv.Require).
// scripts/test-env.sh starts an engine on Debian as root.
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/runtime/docker"
)

// pingTimeout bounds how long a test waits for the daemon to answer. A local
// daemon answers in milliseconds; a few seconds leave room for a loaded CI
// machine without letting a hung daemon stall the suite.
const pingTimeout = 10 * time.Second

// what names the part in skip and failure messages.
const what = "Docker"

// wanted is set once a test of this binary asked for Docker, so Main knows
// that, under CI=true, a daemon it cannot reach is a failure and not a
// package that never needed one.
var wanted atomic.Bool

// RequireDocker returns a client for the daemon selected by the environment
// (DOCKER_HOST, or the default socket) after a real ping has succeeded. When no
// daemon answers it skips the test, or fails it when the CI environment
// variable is true. The client is closed when the test ends.
func RequireDocker(t testing.TB) *docker.Client {
	t.Helper()
	wanted.Store(true)
	c, err := connect()
	if err != nil {
		if errors.Is(err, docker.ErrDaemonUnreachable) {
			err = fmt.Errorf("no daemon answers (run scripts/test-env.sh as root on Debian to start one): %w", err)
		} else {
			err = fmt.Errorf("the daemon is not usable: %w", err)
		}
	}
	testenv.Require(t, what, err)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close docker client: %v", err)
		}
	})
	return c
}

// connect returns a client for the daemon the environment selects once it
// has answered a ping.
func connect() (*docker.Client, error) {
	c, err := docker.New(docker.Config{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// The local images the tests run.
const (
	// WorkerImage is the local worker image `make test` builds with
	// scripts/worker-image.sh where no registry can be reached.
	WorkerImage = "fastflow-worker:local"
	// ProbeImage is the small busybox image scripts/test-env.sh builds to
	// prove the daemon can run a container; tests of the runtime itself
	// use it.
	ProbeImage = "fastflow-probe:local"
)

// RequireImage is RequireDocker for tests that also need image present in
// the daemon: it skips without it on a developer machine and fails under
// CI, where `make test` builds it first.
func RequireImage(t testing.TB, image string) *docker.Client {
	t.Helper()
	c := RequireDocker(t)
	var err error
	if exec.Command("docker", "image", "inspect", image).Run() != nil {
		err = fmt.Errorf("image %s is missing (scripts/test-env.sh builds %s, make worker-image builds %s)", image, ProbeImage, WorkerImage)
	}
	testenv.Require(t, what, err)
	return c
}
