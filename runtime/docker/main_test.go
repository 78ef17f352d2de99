package docker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker"
)

// probeImage is the busybox image scripts/test-env.sh builds.
const probeImage = "fastflow-probe:local"

// ownerLabel marks every container this test binary creates, so TestMain
// finds its own leftovers without touching those of other packages' tests
// running against the same daemon at the same time.
const ownerLabel = "fastflow-test-owner"

// owner is this test process's value of ownerLabel; it is set once, before
// any test runs.
var owner = "runtime-docker-" + strconv.Itoa(os.Getpid())

func testLabels() map[string]string {
	return map[string]string{"fastflow-test": "1", ownerLabel: owner}
}

// TestMain fails the run when a test left a run container behind: every
// test must remove what it starts, on every path.
func TestMain(m *testing.M) {
	code := m.Run()
	if n := removeLeftovers(); n > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d run container(s) left behind by the tests (removed now)\n", n)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// removeLeftovers removes this process's run containers and returns how many
// there were. Without a daemon there is nothing to find.
func removeLeftovers() int {
	c, err := docker.New(docker.Config{})
	if err != nil {
		return 0
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c.Ping(ctx) != nil {
		return 0
	}
	args := filters.NewArgs(filters.Arg("label", runtime.LabelRunID), filters.Arg("label", ownerLabel+"="+owner))
	found, err := docker.API(c).ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		fmt.Fprintf(os.Stderr, "list leftover containers: %v\n", err)
		return 1
	}
	for _, s := range found {
		fmt.Fprintf(os.Stderr, "leftover container %s %v (%s)\n", s.ID[:12], s.Names, s.Labels[runtime.LabelRunID])
		if err := c.Remove(ctx, s.ID); err != nil {
			fmt.Fprintf(os.Stderr, "remove leftover %s: %v\n", s.ID[:12], err)
		}
	}
	return len(found)
}
