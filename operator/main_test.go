package operator

import (
	"os"
	"testing"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

// TestMain fails the package if any run container of its tests is left
// behind: every path of the operator must clean up after a run. Only the
// instances this process used count (ownInstances); without a Docker
// daemon, as for tests on a fake runtime, there is nothing to check.
func TestMain(m *testing.M) {
	if os.Getenv("FASTFLOW_HELPER_DATA") != "" {
		// The operator process TestRunSurvivesOperatorKill kills: what it
		// started is the restarted operator's to finish.
		os.Exit(m.Run())
	}
	dockertest.Main(m, func(labels map[string]string) bool {
		_, ours := ownInstances.Load(labels[runtime.LabelInstance])
		return ours
	})
}
