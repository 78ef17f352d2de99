package operator

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
)

const counterLines = 40

var counterPipeline = map[string]string{
	"counter/main.py": fmt.Sprintf("import time\nfor i in range(1, %d):\n    print('line', i, flush=True)\n    time.sleep(0.1)\n", counterLines+1),
}

// TestHelperOperatorProcess is not a test: it is the operator process that
// TestRunSurvivesOperatorKill starts and kills with SIGKILL.
func TestHelperOperatorProcess(t *testing.T) {
	data, remote := os.Getenv("FASTFLOW_HELPER_DATA"), os.Getenv("FASTFLOW_HELPER_REMOTE")
	if data == "" {
		t.Skip("helper process only")
	}
	env := openRunEnv(t, gittest.Open(t, remote), data, nil, nil)
	r, err := env.op.RunPipeline(context.Background(), RunRequest{Pipeline: "counter"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("RUN", r.ID)
	select {} // until killed
}

// TestRunSurvivesOperatorKill kills the operator with SIGKILL while a run
// prints, starts a new operator on the same state, and checks the run ends
// SUCCESS with its complete log, every line exactly once.
func TestRunSurvivesOperatorKill(t *testing.T) {
	requireWorkerImage(t)
	remote := gittest.New(t)
	remote.Commit("counter", counterPipeline)
	data := t.TempDir()

	cmd, runID := startHelperOperator(t, remote, data)

	// Kill the operator mid-run: some lines are stored, more are coming.
	logPath := killWhenLogged(t, cmd, data, runID, 5)
	killedAt := countLines(logPath)
	t.Logf("operator killed with %d lines stored", killedAt)

	env := openRunEnv(t, remote, data, nil, nil)
	r := env.waitFinal(runID, 60*time.Second)
	if r.Status != status.RunSuccess {
		t.Fatalf("run after restart ended %s (%s)", r.Status, r.Message)
	}
	got := env.logText(r)
	var want []string
	for i := 1; i <= counterLines; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log after restart is not lines 1..%d exactly once (killed at %d):\n%s", counterLines, killedAt, strings.Join(got, "\n"))
	}
	if killedAt >= counterLines {
		t.Errorf("the run had finished before the kill; the test proved nothing")
	}
}

func findLog(data, runID string) string {
	matches, _ := globLogs(data, runID)
	if len(matches) == 0 {
		return ""
	}
	return matches[0]
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

// startHelperOperator runs TestHelperOperatorProcess as a separate operator
// process on data and returns it with the ID of the run it started.
func startHelperOperator(t *testing.T, remote *gittest.Remote, data string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOperatorProcess$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "FASTFLOW_HELPER_DATA="+data, "FASTFLOW_HELPER_REMOTE="+remote.Dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "RUN "); ok {
			return cmd, id
		}
	}
	t.Fatal("helper operator did not start a run")
	return nil, ""
}

// killWhenLogged SIGKILLs the helper operator once its run stored n lines,
// and returns the run's log path.
func killWhenLogged(t *testing.T, cmd *exec.Cmd, data, runID string, n int) string {
	t.Helper()
	logPath := ""
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("run never got going in the helper operator")
		}
		if logPath == "" {
			logPath = findLog(data, runID)
		}
		if logPath != "" && countLines(logPath) >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return logPath
}

// TestReconcileFinalizesExitedAndRemovesOrphans: the run ends while no
// operator watches, and a labelled container nobody owns is around. The
// next start records the run's outcome with its whole log and removes the
// stray container.
func TestReconcileFinalizesExitedAndRemovesOrphans(t *testing.T) {
	rt := requireWorkerImage(t)
	remote := gittest.New(t)
	remote.Commit("counter", counterPipeline)
	data := t.TempDir()
	cmd, runID := startHelperOperator(t, remote, data)
	killWhenLogged(t, cmd, data, runID, 3)
	instance := testInstance(data)
	ctx := context.Background()

	cs, err := rt.List(ctx, map[string]string{runtime.LabelRunID: runID})
	if err != nil || len(cs) != 1 {
		t.Fatalf("run container: %v, %v", cs, err)
	}
	if _, err := rt.Wait(ctx, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	orphan, err := rt.Start(ctx, runtime.RunSpec{
		RunID: "orphan-" + runID, Pipeline: "counter", Revision: "none", Kind: "run", Image: workerImage,
		Command: []string{"sleep", "300"}, Network: "none", Labels: map[string]string{runtime.LabelInstance: instance},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), orphan) })

	env := openRunEnv(t, remote, data, nil, nil)
	r := env.waitFinal(runID, 30*time.Second)
	if r.Status != status.RunSuccess || len(env.logText(r)) != counterLines {
		t.Errorf("exited run finalized as %s (%s) with %d lines, want SUCCESS with %d", r.Status, r.Message, len(env.logText(r)), counterLines)
	}
	if left, err := rt.List(ctx, map[string]string{runtime.LabelRunID: "orphan-" + runID}); err != nil || len(left) != 0 {
		t.Errorf("orphan container still there: %v, %v", left, err)
	}
	if left, err := rt.List(ctx, map[string]string{runtime.LabelRunID: runID}); err != nil || len(left) != 0 {
		t.Errorf("finalized run's container not removed: %v, %v", left, err)
	}
}
