package webui

import (
	"net/http"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// logRemovedText says when retention removed a run's log and metrics
// files, "" while they are kept.
func logRemovedText(run status.Run) string {
	if !run.LogRemoved() {
		return ""
	}
	return "log removed by retention on " + run.LogRemovedAt.UTC().Format(time.RFC3339)
}

// logGone answers 410 Gone for a run whose files retention removed and
// reports whether it did; the log and metrics routes call it before they
// open a file, so a removed log is never a 404 or a 500.
func logGone(w http.ResponseWriter, run status.Run) bool {
	msg := logRemovedText(run)
	if msg == "" {
		return false
	}
	writeError(w, http.StatusGone, msg, map[string]string{
		"removed_at": run.LogRemovedAt.UTC().Format(time.RFC3339),
		"reason":     run.LogRemovedReason,
	})
	return true
}
