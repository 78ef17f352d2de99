package operator

import (
	"fmt"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
)

// outcome is how one run ended, as it goes into the run record.
type outcome struct {
	status    status.RunStatus
	errorType status.ErrorType
	message   string
}

// endReason is what the operator itself did to a run, which outranks the
// exit code: a cancelled run killed by SIGTERM is CANCELLED, not FAILED.
type endReason int

const (
	endNatural endReason = iota
	endCancelled
	endTimeout
	endShutdown
	endStalled
	// endRemoved: the pipeline is gone from the repository; the stop
	// request carries the message naming the commit.
	endRemoved
	// endUnhealthy: the container's health check failed for longer than
	// HEALTH_GRACE; the stop request carries the probe's last output.
	endUnhealthy
)

// classify maps an exit to a status, per DESIGN.md's run record.
func classify(reason endReason, exit runtime.ExitStatus, setupFailed string, memLimit int64, timeoutDesc string) outcome {
	switch reason {
	case endStalled:
		return outcome{status: status.RunFailed, errorType: status.ErrorStalled, message: "stopped: no output for longer than the stall timeout"}
	case endUnhealthy:
		return outcome{status: status.RunFailed, errorType: status.ErrorUnhealthy, message: "stopped: the container's health check failed for longer than HEALTH_GRACE"}
	case endCancelled:
		return outcome{status: status.RunCancelled, message: "cancelled"}
	case endRemoved:
		return outcome{status: status.RunCancelled, message: "cancelled: the pipeline was removed from the repository"}
	case endTimeout:
		return outcome{status: status.RunTimeout, message: "stopped after the timeout of " + timeoutDesc}
	case endShutdown:
		return outcome{status: status.RunInterrupted, message: "stopped because Fast-Flow shut down (SHUTDOWN_POLICY=stop)"}
	}
	if setupFailed != "" && exit.Code != 0 {
		return outcome{status: status.RunFailed, errorType: status.ErrorSetupFailed, message: "uv could not install the requirements: " + setupFailed}
	}
	switch code := exit.Code; {
	case code == 0:
		return outcome{status: status.RunSuccess}
	case exit.OOMKilled, code == 137 && memLimit > 0:
		// Docker's OOMKilled flag races the container's exit when an init
		// is PID 1 (the kernel kills the pipeline, init exits 137 at once,
		// the OOM event may land after). A SIGKILL the operator did not
		// send, under a hard memory limit, is the OOM killer.
		msg := "killed: out of memory"
		if memLimit > 0 {
			msg = fmt.Sprintf("killed: out of memory (limit %s)", formatBytes(memLimit))
		}
		return outcome{status: status.RunFailed, errorType: status.ErrorOOM, message: msg}
	case code == 125:
		return outcome{status: status.RunFailed, errorType: status.ErrorDocker, message: "the container could not be run (exit 125)" + suffix(exit.Error)}
	case code == 126:
		return outcome{status: status.RunFailed, errorType: status.ErrorCommandNotExecutable, message: "the command is not executable (exit 126): is uv in the worker image?"}
	case code == 127:
		return outcome{status: status.RunFailed, errorType: status.ErrorCommandNotFound, message: "command not found (exit 127): is uv in the worker image?"}
	case code == 137:
		return outcome{status: status.RunFailed, errorType: status.ErrorExitCode, message: "killed by SIGKILL (exit 137)"}
	default:
		return outcome{status: status.RunFailed, errorType: status.ErrorExitCode, message: fmt.Sprintf("exited with code %d", code)}
	}
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func formatBytes(n int64) string {
	const mib = 1 << 20
	if n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	if n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/mib)
}
