package operator

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain fails the package if any run container of its tests is left
// behind: every path of the operator must clean up after a run.
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("FASTFLOW_HELPER_DATA") == "" && code == 0 {
		if left := leftoverContainers(); left != "" {
			fmt.Fprintf(os.Stderr, "run containers left behind by the operator tests:\n%s\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

func leftoverContainers() string {
	ctx := context.Background()
	out, err := exec.CommandContext(ctx, "docker", "ps", "-a", "--filter", "label=fastflow-instance",
		"--format", `{{.ID}} {{.Label "fastflow-instance"}} {{.Label "fastflow-run-id"}} {{.Status}}`).Output()
	if err != nil {
		return "" // no Docker: the tests that need it skipped or failed already
	}
	var left []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			if _, ours := ownInstances.Load(f[1]); ours {
				left = append(left, line)
			}
		}
	}
	return strings.Join(left, "\n")
}
