package operator

import (
	"testing"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reason endReason
		exit   runtime.ExitStatus
		setup  string
		want   outcome
	}{
		{name: "zero is success", exit: runtime.ExitStatus{Code: 0}, want: outcome{status: status.RunSuccess}},
		{name: "exception", exit: runtime.ExitStatus{Code: 1}, want: outcome{status.RunFailed, status.ErrorExitCode, "exited with code 1"}},
		{name: "oom", exit: runtime.ExitStatus{Code: 137, OOMKilled: true}, want: outcome{status.RunFailed, status.ErrorOOM, "killed: out of memory (limit 64 MiB)"}},
		{name: "sigkill under a memory limit is the oom killer", exit: runtime.ExitStatus{Code: 137}, want: outcome{status.RunFailed, status.ErrorOOM, "killed: out of memory (limit 64 MiB)"}},
		{name: "docker error", exit: runtime.ExitStatus{Code: 125, Error: "no such image"}, want: outcome{status.RunFailed, status.ErrorDocker, "the container could not be run (exit 125): no such image"}},
		{name: "not executable", exit: runtime.ExitStatus{Code: 126}, want: outcome{status.RunFailed, status.ErrorCommandNotExecutable, "the command is not executable (exit 126): is uv in the worker image?"}},
		{name: "not found", exit: runtime.ExitStatus{Code: 127}, want: outcome{status.RunFailed, status.ErrorCommandNotFound, "command not found (exit 127): is uv in the worker image?"}},
		{name: "setup failed", exit: runtime.ExitStatus{Code: 2}, setup: "no matching distribution", want: outcome{status.RunFailed, status.ErrorSetupFailed, "uv could not install the requirements: no matching distribution"}},
		{name: "cancel outranks the exit code", reason: endCancelled, exit: runtime.ExitStatus{Code: 143}, want: outcome{status: status.RunCancelled, message: "cancelled"}},
		{name: "timeout outranks oom", reason: endTimeout, exit: runtime.ExitStatus{Code: 137, OOMKilled: true}, want: outcome{status: status.RunTimeout, message: "stopped after the timeout of 3s"}},
		{name: "stalled outranks the kill it caused", reason: endStalled, exit: runtime.ExitStatus{Code: 137}, want: outcome{status: status.RunFailed, errorType: status.ErrorStalled, message: "stopped: no output for longer than the stall timeout"}},
		{name: "shutdown", reason: endShutdown, exit: runtime.ExitStatus{Code: 143}, want: outcome{status: status.RunInterrupted, message: "stopped because Fast-Flow shut down (SHUTDOWN_POLICY=stop)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := classify(tt.reason, tt.exit, tt.setup, 64<<20, "3s")
			if got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
	// Without a memory limit a SIGKILL is just a SIGKILL.
	if got := classify(endNatural, runtime.ExitStatus{Code: 137}, "", 0, "3s"); got.errorType != status.ErrorExitCode || got.message != "killed by SIGKILL (exit 137)" {
		t.Errorf("137 without a limit = %+v", got)
	}
}
