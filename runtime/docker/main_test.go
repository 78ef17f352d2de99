package docker_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

// probeImage is the busybox image scripts/test-env.sh builds.
const probeImage = dockertest.ProbeImage

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
	dockertest.Main(m, dockertest.LabelIs(ownerLabel, owner))
}
