package deploy

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fastflow-dev/fastflow/internal/testenv"
)

// TestAlertRules: docs/alerts.yml is valid and every alert fires when it
// should and not before (docs/alerts_test.yml, run by promtool).
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		err = errors.New("promtool not on PATH (apt-get install prometheus, or bash scripts/test-env.sh)")
	}
	testenv.Require(t, "promtool", err)
	docs := filepath.Join(repoRoot(t), "docs")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = docs
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
